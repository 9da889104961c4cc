"""Reusable Keras layers of the kit (one concept per layer, all `.keras` serializable)."""

from hashtag_kit.layers.additive_attention import AdditiveAttention  # noqa: F401
from hashtag_kit.layers.co_attention import CoAttention  # noqa: F401
from hashtag_kit.layers.concat_fusion import ConcatFusion  # noqa: F401
from hashtag_kit.layers.gated_fusion import GatedFusion  # noqa: F401
from hashtag_kit.layers.modality_mask import ModalityMask  # noqa: F401
from hashtag_kit.layers.sum_fusion import SumFusion  # noqa: F401
from hashtag_kit.layers.user_history_encoder import UserHistoryEncoder  # noqa: F401
