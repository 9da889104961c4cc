"""The baselines every hashtag model is compared with: popularity, the user's own tags, nearest
neighbours, zero-shot ImageNet labels, tag co-occurrence, and captions turned into hashtags."""
