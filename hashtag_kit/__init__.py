"""hashtag_kit: a Keras/TensorFlow reproduction kit for multimodal hashtag recommendation and
short image-description generation.

Stages (one notebook each, see `notebooks/`) talk only through files in a run directory;
`hashtag_kit.run.RunDir` documents the layout.
"""

__version__ = "0.1.0"
