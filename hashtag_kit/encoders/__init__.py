"""Pretrained image and text encoders (their features are cached by `hashtag_kit.features`).

Modules (imported on demand; importing this package loads neither TensorFlow nor weights):

* `hashtag_kit.encoders.image` — `get_image_encoder("auto" | "inception_v3" |
  "efficientnet_lite0")`, `top_labels(images)` (ImageNet labels, offline);
* `hashtag_kit.encoders.efficientnet_lite` — the Keras 3 EfficientNet-Lite0 port;
* `hashtag_kit.encoders.torch_weights` — reads PyTorch state dicts with numpy through a
  restricted unpickler (no torch, no code execution);
* `hashtag_kit.encoders.text` — `get_text_encoder("auto" | "use_v4" | "use_multilingual_v3")`,
  `TextEncodingWorker` (a numpy-only encoder in a child process);
* `hashtag_kit.encoders.universal_sentence_encoder` — the `UniversalSentenceEncoder` Keras layer;
"""
