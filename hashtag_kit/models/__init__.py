"""Models of the kit (each a registered, `.keras`-serializable `keras.Model`)."""

from hashtag_kit.models.attention_classifier import AttentionHashtagClassifier  # noqa: F401
from hashtag_kit.models.caption_decoder import (  # noqa: F401
    MergeCaptionModel,
    ShowAttendTellDecoder,
)
from hashtag_kit.models.cnn_rnn import CNNRNNTagger  # noqa: F401
from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder  # noqa: F401
