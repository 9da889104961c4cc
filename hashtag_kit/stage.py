"""The stage-file contract: a trained model, its vocabulary and its config in a stage folder.

Notebooks 02-04 write their models with `save_stage`; the `Recommender`, the web demo and the
evaluations (`hashtag_kit.evaluation`) read them back with `load_stage`. A stage folder
(`outputs/<run>/<stage>/`) holds:

* the model(s), `.keras` files (`model.keras` unless named otherwise);
* the vocabulary, a `hashtag_kit.vocabulary.Vocabulary` as JSON (`tags.json` for notebook 02,
  `word_vocab.json` for 03, `caption_tokenizer.json` for 04);
* `users.json` when the model is personalised: {user id: [tag ids, most used first]};
* `model_config.json`: `format_version` (`STAGE_FORMAT_VERSION`), `kit_version`, the encoders
  the features came from and the settings the model was trained with.

Every defect (a missing file, another format version, a file of the wrong shape, files from
different runs) is one `FileNotFoundError` or `IncompatibleRunError` naming the file and the
notebook to re-run.

Example:
    >>> save_stage(stage_dir, model, tokens, users, {"history_len": 8})  # doctest: +SKIP
    >>> model, vocabulary, users, config = load_stage(stage_dir)        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from hashtag_kit import __version__
from hashtag_kit.files import atomic_path
from hashtag_kit.run import JSONFileError, read_json, write_json
from hashtag_kit.vocabulary import Vocabulary

#: the `format_version` of `model_config.json` written by `save_stage` and read by `load_stage`
STAGE_FORMAT_VERSION = 1
#: model settings copied into `model_config.json` when the model's config has them
_MODEL_SETTINGS = ("fusion", "personalisation", "modality")


class IncompatibleRunError(ValueError):
    """A stage folder written by an incompatible version of the kit, or by different runs."""


class Stage(NamedTuple):
    model: object
    vocabulary: Vocabulary
    users: dict[str, list[int]] | None
    config: dict


def save_stage(
    stage_dir: str | Path,
    model,
    vocabulary: Vocabulary | list[str],
    users: dict[str, list[int]] | None = None,
    config: dict | None = None,
    *,
    model_file: str = "model.keras",
    vocab_file: str = "tags.json",
) -> Path:
    """Write a stage folder (see the module docstring); returns it.

    Args:
        stage_dir: `outputs/<run>/<stage>/`, created if needed.
        model: a Keras model, or {file name: model} for a stage with several.
        vocabulary: a `Vocabulary`, or its token list (special tokens first).
        users: {user id: [tag ids]} of a personalised model (`users.json`), or None.
        config: what the model was trained with (encoders, lengths, ...).
        model_file, vocab_file: the file names.
    """
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(vocabulary, Vocabulary):
        vocabulary = Vocabulary(vocabulary)
    models = model if isinstance(model, dict) else {model_file: model}
    settings = {}
    for name, m in models.items():
        size = getattr(m, "vocab_size", None)
        if size is not None and size != vocabulary.size:
            raise ValueError(f"{name} has {size} token ids, the vocabulary {vocabulary.size}")
        settings.update({k: v for k, v in m.get_config().items() if k in _MODEL_SETTINGS})
        with atomic_path(stage_dir / name) as tmp:
            m.save(tmp)
    vocabulary.save(stage_dir / vocab_file)
    if users is not None:
        write_json(stage_dir / "users.json", users)
    full = {"format_version": STAGE_FORMAT_VERSION, "kit_version": __version__, **settings}
    write_json(stage_dir / "model_config.json", {**full, **(config or {})})
    return stage_dir


def load_stage(
    stage_dir: str | Path,
    *,
    model_file: str = "model.keras",
    vocab_file: str = "tags.json",
    users_file: str | None = "users.json",
    vocabulary_class: type[Vocabulary] = Vocabulary,
) -> Stage:
    """Read a stage folder written by `save_stage`, checking every file.

    The kit's model classes (`hashtag_kit.models`) are registered here; a user's own model
    honouring the same contract must be imported (registered) first.

    Returns:
        `Stage(model, vocabulary, users, config)`; users is None when `users_file` is None.

    Raises:
        FileNotFoundError: the folder or a file is missing (names it and the notebook).
        IncompatibleRunError: another format version, a file of the wrong shape, a model that
            cannot be loaded, or files from different runs.
    """
    import keras  # lazily: the `recommend` command encodes its caption while TF loads

    import hashtag_kit.models  # noqa: F401  registers the kit's classes (lazily, as keras)

    stage_dir = Path(stage_dir)
    rerun = f"re-run notebook {stage_dir.name}.ipynb for this run"
    if not stage_dir.is_dir():
        raise FileNotFoundError(
            f"{stage_dir} does not exist: train a model first (run notebook {stage_dir.name}"
            ".ipynb or `make reproduce` for this run), or pass --run <run dir>"
        )
    names = ["model_config.json", model_file, vocab_file] + ([users_file] if users_file else [])
    for name in names:
        if not (stage_dir / name).exists():
            raise FileNotFoundError(
                f"{stage_dir / name} is missing: the run is incomplete; {rerun}"
            )
    config = _read(stage_dir / "model_config.json", rerun, dict)
    version = config.get("format_version")
    if version != STAGE_FORMAT_VERSION:
        raise IncompatibleRunError(
            f"{stage_dir / 'model_config.json'} has format_version {version!r} but this kit "
            f"reads version {STAGE_FORMAT_VERSION} (written by kit {config.get('kit_version', '?')}"
            f"); {rerun} with this kit, or install the kit version that wrote the run"
        )
    try:
        vocabulary = vocabulary_class.from_dict(_read(stage_dir / vocab_file, rerun))
    except (TypeError, ValueError) as e:
        raise IncompatibleRunError(f"{stage_dir / vocab_file}: {e}; {rerun}") from None
    users = None
    if users_file:
        users = _read(stage_dir / users_file, rerun)
        if not _is_users(users, vocabulary.size):
            raise IncompatibleRunError(
                f"{stage_dir / users_file} is not {{user id: [tag ids below "
                f"{vocabulary.size}]}} for the vocabulary of {stage_dir / vocab_file}; {rerun}"
            )
    try:
        model = keras.saving.load_model(stage_dir / model_file, compile=False)
    except Exception as e:  # a corrupt or foreign file
        raise IncompatibleRunError(
            f"{stage_dir / model_file} could not be loaded ({type(e).__name__}: {e}); {rerun} "
            "with this kit version"
        ) from e
    size = getattr(model, "vocab_size", None) or getattr(model, "n_tokens", None)
    if size is not None and int(size) != vocabulary.size:
        raise IncompatibleRunError(
            f"{stage_dir / model_file} has {size} token ids but {stage_dir / vocab_file} lists "
            f"{vocabulary.size}: the files come from different runs; {rerun}"
        )
    return Stage(model, vocabulary, users, config)


def _read(path: Path, rerun: str, expect: type | None = None):
    try:
        return read_json(path, expect)
    except JSONFileError as e:
        raise IncompatibleRunError(f"{e}; {rerun}") from None


def _is_users(obj, size: int) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(ids, list) and all(type(i) is int and 0 <= i < size for i in ids)
        for ids in obj.values()
    )
