"""Pretrained image and text encoders and the feature cache every model reads.

Modules (imported on demand; importing this package loads neither TensorFlow nor weights):

* `hashtag_kit.encoders.image` — `get_image_encoder("auto" | "inception_v3" |
  "efficientnet_lite0")`, `top_labels(images)` (ImageNet labels, offline);
* `hashtag_kit.encoders.efficientnet_lite` — the Keras 3 EfficientNet-Lite0 port;
* `hashtag_kit.encoders.torch_weights` — reads PyTorch state dicts with numpy through a
  restricted unpickler (no torch, no code execution);
* `hashtag_kit.encoders.text` — `get_text_encoder("auto" | "use_v4" | "use_multilingual_v3")`,
  `TextEncodingWorker` (a numpy-only encoder in a child process);
* `hashtag_kit.encoders.universal_sentence_encoder` — the `UniversalSentenceEncoder` Keras layer;
* `hashtag_kit.encoders.cache` — `extract_features(run_dir, posts, kind)` /
  `load_features(run_dir, kind)` -> `FeatureSet`, and the `features` command.
  `open_features(run_dir, kind)` -> `CachedFeatures` (left in their shards);
* `hashtag_kit.encoders.stream` — `feature_dataset(...)`: cached features streamed through
  `tf.data` (runs larger than memory); `fit_inputs(...)` picks in-memory or streamed by size.

Example:
    >>> from hashtag_kit.encoders.cache import extract_features, load_features
    >>> fs = extract_features("outputs/default", posts, "image", grid=True)  # doctest: +SKIP
"""
