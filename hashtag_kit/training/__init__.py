"""Training: `fit.py`, the one loop every model of the kit trains through (step timer,
restore-best, per-epoch checkpoints with an exact resume, distribution strategy);
`checkpoints.py`, its SHA-256 checked epoch checkpoints; `multi_worker.py`, training on
several machines (`strategy="multi_worker"`); `encoder_decoder.py`, notebook 02's model: a
run's data as arrays (`load_run_data`), `train`, `evaluate`; `classifiers.py`, notebook 03's
tag classifiers (`fit_classifier`, `train_attention_classifier`, `train_cnn_rnn`)."""

from hashtag_kit.training.encoder_decoder import (  # noqa: F401
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
from hashtag_kit.training.fit import StepTimer, TrainResult, get_strategy  # noqa: F401
