"""Training: one fit path for every model of the kit, and the encoder-decoder's data.

- `fit` (`fit.py`): the loop every trainer uses: one Keras `fit` over all epochs with a step
  timer, restore-best / early stopping / learning-rate decay on the val loss, a checkpoint
  after each epoch and an exact resume, and the distribution strategy.
- `checkpoints.py`: the epoch checkpoint files, verified by SHA-256 on resume.
- `encoder_decoder.py`: notebook 02's model: run data to arrays (`load_run_data`), `train`,
  `evaluate`.
"""

from hashtag_kit.training.checkpoints import CheckpointError, load_epoch_checkpoint
from hashtag_kit.training.encoder_decoder import (
    PostArrays,
    RunData,
    TrainConfig,
    build_model,
    checkpoint_folder,
    epoch_arrays,
    evaluate,
    load_run_data,
    make_arrays,
    make_tokens,
    post_histories,
    recommend_tags,
    train,
    user_histories,
)
from hashtag_kit.training.fit import (
    StepTimer,
    TrainResult,
    count_params,
    fit,
    get_strategy,
)

__all__ = [
    "CheckpointError",
    "PostArrays",
    "RunData",
    "StepTimer",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "checkpoint_folder",
    "count_params",
    "epoch_arrays",
    "evaluate",
    "fit",
    "get_strategy",
    "load_epoch_checkpoint",
    "load_run_data",
    "make_arrays",
    "make_tokens",
    "post_histories",
    "recommend_tags",
    "train",
    "user_histories",
]
