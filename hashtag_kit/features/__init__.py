"""The feature cache every model reads, and streaming it.

* `hashtag_kit.features.cache` — `extract_features(run_dir, posts, kind)` /
  `load_features(run_dir, kind)` -> `FeatureSet` (content-keyed shards, resumable, `--shard i/n`
  on many machines then `--merge`); `open_features(run_dir, kind)` -> `CachedFeatures` (left in
  their shards);
* `hashtag_kit.features.stream` — `feature_dataset(...)`: cached features streamed through
  `tf.data` (runs larger than memory); `fit_inputs(...)` picks in-memory or streamed by size.

Example:
    >>> from hashtag_kit.features.cache import extract_features, load_features
    >>> fs = extract_features("outputs/default", posts, "image", grid=True)  # doctest: +SKIP
"""
