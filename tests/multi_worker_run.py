"""One training process of tests/test_multi_worker.py (not a test itself).

    python tests/multi_worker_run.py OUT.json CHECKPOINT_DIR EPOCHS STRATEGY

Trains the encoder-decoder (`hashtag_kit.training.train`) on test_training's seeded synthetic
posts (tags from an image cluster, a text cluster and the user's habit) and writes OUT.json:
whether this process is the chief, the epochs whose checkpoints it wrote, the epoch it resumed
from, the loss history and, on the chief, Hit@5 / F1@5 on held-out posts.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_training import arrays, synthetic, vocab_of  # noqa: E402

import hashtag_kit.training.fit as fit_module  # noqa: E402
from hashtag_kit.training import TrainConfig, evaluate, get_strategy, train  # noqa: E402
from hashtag_kit.training.multi_worker import is_chief  # noqa: E402

CONFIG = TrainConfig(
    units=32, embed_dim=16, batch_size=32, dropout=0.0, modality_dropout=0.0, seed=0
)  # no dropout: the two-worker run then differs from the one-worker run by rounding only


def main(out: str, checkpoint_dir: str, epochs: int, strategy: str) -> None:
    strategy = get_strategy(strategy)  # first, before any other TensorFlow op
    saved: list[int] = []
    save = fit_module.save_epoch_checkpoint

    def counted(folder, snapshot, *args, **kwargs):
        saved.append(snapshot[1]["epoch"])
        return save(folder, snapshot, *args, **kwargs)

    fit_module.save_epoch_checkpoint = counted
    posts, fi, ft = synthetic(n=448, seed=3)
    train_posts, val_posts, test_posts = posts[:320], posts[320:352], posts[352:]
    tokens = vocab_of(train_posts)
    tr, va, te = (
        arrays(p, train_posts, fi, ft, tokens) for p in (train_posts, val_posts, test_posts)
    )
    config = TrainConfig(**{**vars(CONFIG), "epochs": epochs})
    result = train(config, tr, va, len(tokens), checkpoint_dir=checkpoint_dir, strategy=strategy)
    report = {
        "chief": is_chief(strategy),
        "saved_epochs": saved,
        "resumed_from_epoch": result.resumed_from_epoch,
        "loss": result.history["loss"],
        "val_loss": result.history["val_loss"],
    }
    if report["chief"]:
        metrics = evaluate(result.model, te, tokens, ks=[5])
        report |= {"hit@5": metrics["hit_rate"]["5"], "f1@5": metrics["f1"]["5"]}
    Path(out).write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
