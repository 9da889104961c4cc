"""Hashtags for a photo and/or a caption, from a trained run: the kit's user-facing API and CLI.

`Recommender.load(run_dir)` reads what notebook 02 wrote into
`<run_dir>/02_encoder_decoder_hashtags/` (`model.keras`, `tags.json`, `users.json`,
`model_config.json`), and `.recommend(...)` encodes the image and text with the SAME encoders the
run's features came from (named in `model_config.json`; loaded lazily, once) and decodes ranked
hashtags with the model's beam search. Tags the user already typed condition the model and are
never suggested again; an unknown user falls back to the model's cold-start path and the result
says so.

Command line (`recommend_once`; exit code 2 and a one-line message for user errors):

    python -m hashtag_kit recommend --image cat.jpg --text "cutest cat ever" -k 5 \
        [--run outputs/default] [--user U] [--existing a,b] [--beam-width 3] \
        [--ranking beam|first_step] [--json] [-v]

It prints the result and its notes, nothing else (`-v` adds TensorFlow's and the kit's log
lines, whose remarks are also the notes). It is made for one cold post: the image encoder and the
decoder run eagerly (`compiled=False`), only the encoders the post needs are built, and a caption
for a numpy-only text encoder (USE multilingual v3) is encoded in a child process on the other
core while this one imports TensorFlow (`hashtag_kit.encoders.text.TextEncodingWorker`).

Example:
    >>> rec = Recommender.load("outputs/default")                      # doctest: +SKIP
    >>> rec.recommend(image="cat.jpg", text="cutest cat ever", k=3)    # doctest: +SKIP
    [('cat', 0.41), ('cats', 0.12), ('kitten', 0.07)]
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hashtag_kit.data.images import ImageError, read_image
from hashtag_kit.data.posts import Post
from hashtag_kit.encoders.image import ImageEncoder, WeightsUnavailableError, get_image_encoder
from hashtag_kit.encoders.text import NUMPY_TEXT_ENCODERS, TextEncodingWorker, get_text_encoder
from hashtag_kit.report import RunReport
from hashtag_kit.run import ENCODER_DECODER, RunDir, read_json
from hashtag_kit.stage import IncompatibleRunError, load_stage
from hashtag_kit.text import clean_str, normalise_hashtag
from hashtag_kit.vocabulary import N_SPECIAL, Vocabulary

#: the widest beam `recommend` searches (wider beams cost memory and time, not accuracy: the
#: kit's runs use 3)
MAX_BEAM_WIDTH = 64

log = logging.getLogger("hashtag_kit")

#: how tags are ranked: the model's beam search, or its first-step (next-tag) distribution
RANKINGS = ("beam", "first_step")
#: datasets of generated pictures, not photos: a model trained on one says so for every image
GENERATED_DATASETS = ("embedded",)


class Recommendations(list):
    """Ranked `(tag, score)` pairs, best first; `notes` says how they were made.

    A plain list of tuples for every use, with extras: `notes` (human-readable remarks, e.g.
    that an unknown user got the cold-start fallback, or that typed tags are outside the
    vocabulary), `cold_start` (True when `user` was given but the model never saw it and no
    `history` was given), and `unknown` ({"existing"|"accepted"|"history": [tags outside the
    model's vocabulary]}: they could not condition the model, and are never dropped silently).
    """

    def __init__(
        self,
        items: Iterable = (),
        notes: Iterable[str] = (),
        cold_start: bool = False,
        unknown: dict | None = None,
    ):
        super().__init__(items)
        self.notes = list(notes)
        self.cold_start = bool(cold_start)
        self.unknown = {k: list(v) for k, v in (unknown or {}).items() if v}

    @property
    def tags(self) -> list[str]:
        return [t for t, _ in self]

    def to_dict(self) -> dict:
        return {
            "hashtags": [{"tag": t, "score": float(s)} for t, s in self],
            "notes": self.notes,
            "cold_start": self.cold_start,
            "unknown": self.unknown,
        }


def _resolve_stage_dir(run_dir: str | Path, stage: str) -> Path:
    """Accept the run directory (`outputs/<run>`) or the stage folder itself."""
    run_dir = Path(run_dir)
    if (run_dir / "model_config.json").exists() or (run_dir / "model.keras").exists():
        return run_dir
    return run_dir / stage


class EncoderMismatchError(RuntimeError):
    """The encoder available here is not the one the run's features came from."""


def _run_encoder(kind: str, cfg: dict, weights: str | None = None):
    """The encoder `cfg["name"]` a run's features came from, built from the kit's own weights
    or from `weights`, a file, folder or hub handle the *user* passes (never from a path the
    run recorded: a run directory is data, and a SavedModel it names would run its graph).
    `weights` serves InceptionV3 (an .h5 file) and USE v4 (a SavedModel folder or hub handle)
    only. The caller checks the encoder against the run's record (`_check_same_encoder`).
    """
    recorded = cfg.get("weights")
    try:
        if kind == "image":
            return get_image_encoder(
                cfg["name"], weights=weights if cfg["name"] == "inception_v3" else None
            )
        return get_text_encoder(cfg["name"], weights if cfg["name"] == "use_v4" else None)
    except WeightsUnavailableError as e:
        if not recorded or weights:
            raise
        flag = "--image-weights" if kind == "image" else "--use-v4"
        raise WeightsUnavailableError(
            f"{e} The run was made with {cfg['name']} weights from {recorded}; a run never "
            f"loads weights or models from paths it names itself: if you trust that copy, "
            f"pass it yourself ({flag} {recorded}, or {flag.strip('-').replace('-', '_')}= in "
            "Recommender.load)"
        ) from None


def _check_same_encoder(kind: str, want: dict, encoder) -> None:
    """The encoder we got must be the one the run's features came from."""
    got_digest = getattr(encoder, "digest", None)
    if want.get("digest") and got_digest and want["digest"] != got_digest:
        raise EncoderMismatchError(
            f"the run's {kind} features came from {want.get('name')} with weights digest "
            f"{want['digest']}, but the {kind} encoder available here has digest {got_digest}: "
            "recommendations would be meaningless; install the same weights or re-run the run"
        )
    got_size = getattr(encoder, "input_size", None)
    if want.get("input_size") and got_size and int(want["input_size"]) != int(got_size):
        raise EncoderMismatchError(
            f"the run's {kind} features came from {want.get('name')} at a {want['input_size']} "
            f"px input, but the {kind} encoder given takes {got_size} px ({encoder.name})"
        )
    got_dim = getattr(encoder, "dim", None)
    if want.get("dim") and got_dim and int(want["dim"]) != int(got_dim):
        raise EncoderMismatchError(
            f"the run's {kind} features are {want['dim']}-d but encoder {want.get('name')} "
            f"gives {got_dim}-d"
        )


class Recommender:
    """Recommend hashtags with a trained `HashtagEncoderDecoder` and the run's own encoders.

    Args:
        model: a model with `decode(inputs, k, beam_width, exclude) -> (ids, scores)`, and
            for `ranking="first_step"` `rank_first_step(inputs, k, exclude)` (the contract of
            `hashtag_kit.models.encoder_decoder.HashtagEncoderDecoder`).
        tokens: the tag `Vocabulary` (`tags.json`), or its token list; special tokens are never
            returned.
        users: {user id: [tag ids, most frequent first]} (`users.json`).
        config: `model_config.json` (encoders used, `history_len`, `existing_len`, ...).
        image_encoder, text_encoder: encoders to use instead of the run's (tests, custom
            set-ups); they need `.encode(...)` as in `hashtag_kit.encoders` and are checked
            against the digest and dim the run recorded.
        source: where the model came from, for messages.
        weights: {"image": an InceptionV3 weight file, "text": a USE v4 folder or handle}
            the user passed (`load`'s `image_weights` / `use_v4`), for the lazy encoders.
        trained_on: the dataset the run was trained on (`run.json`'s `dataset`; `load` reads
            it). For one of `GENERATED_DATASETS` every recommendation for an image carries a
            note that the model learned from generated pictures, not photos.
        compiled: run the image encoder (the kit's, those with `prepare`) and the model's
            decoding compiled (default: traced on first use, then fast: many posts, a server);
            False runs them eagerly (`run_eagerly`), quicker for one post (`recommend_once`).

    Example:
        >>> rec = Recommender.load("outputs/default")                    # doctest: +SKIP
        >>> rec.recommend(text="sunset at the beach", user="u12", existing=["#sea"], k=5)
    """

    def __init__(
        self,
        model,
        tokens: Vocabulary | Sequence[str],
        users: dict | None = None,
        config: dict | None = None,
        *,
        image_encoder=None,
        text_encoder=None,
        source: str | Path | None = None,
        weights: dict | None = None,
        trained_on: str | None = None,
        compiled: bool = True,
    ) -> None:
        self.model = model
        self.trained_on = trained_on
        self.compiled = bool(compiled)
        if not self.compiled and hasattr(model, "run_eagerly"):
            model.run_eagerly = True  # decode without tracing (`hashtag_kit.decoding.compiled`)
        self.vocabulary = tokens if isinstance(tokens, Vocabulary) else Vocabulary(tokens)
        self.tokens = self.vocabulary.tokens
        self.tag_to_id = self.vocabulary.index
        self.special_ids = set(range(N_SPECIAL))
        self.users = {str(u): [int(i) for i in ids] for u, ids in (users or {}).items()}
        self.config = dict(config or {})
        where = f"{source}/model_config.json" if source is not None else "config"
        _check_config(self.config, where)
        self.history_len = int(self.config.get("history_len") or 0)
        self.existing_len = int(self.config.get("existing_len") or 0)
        self.source = str(source) if source is not None else "the model"
        self._encoders = {"image": image_encoder, "text": text_encoder}
        self._weights = {k: str(v) for k, v in (weights or {}).items() if v}
        for kind, encoder in self._encoders.items():
            if encoder is not None and self.config.get(f"{kind}_encoder"):
                _check_same_encoder(kind, self.config[f"{kind}_encoder"], encoder)

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        *,
        stage: str = ENCODER_DECODER,
        image_encoder=None,
        text_encoder=None,
        image_weights: str | Path | None = None,
        use_v4: str | Path | None = None,
        compiled: bool = True,
    ) -> Recommender:
        """Load the model, vocabularies and encoder names of a run.

        Args:
            run_dir: the run directory (`outputs/<run>`) or its stage folder.
            stage: stage folder name holding the model (default notebook 02's).
            image_encoder, text_encoder: optional encoder objects overriding the run's.
            image_weights: an InceptionV3 weight file you trust, for a run made with one
                (the path the run recorded is never used by itself).
            use_v4: a USE v4 SavedModel folder or hub handle you trust, likewise.
            compiled: as in the constructor (False: the image encoder and decoding run eagerly).

        Raises:
            FileNotFoundError: the run or one of its files is missing (named, with what to do).
            IncompatibleRunError: the run was written by an incompatible kit version.
        """
        stage_dir = _resolve_stage_dir(run_dir, stage)
        trained_on = None
        if (stage_dir.parent / "run.json").is_file():  # format_version checked (RunFormatError)
            trained_on = RunDir(stage_dir.parent).meta().get("dataset")
        # registers the kit's model for `load_stage`; lazy (here, not at the top): the
        # `recommend` command encodes its caption in a child process while Keras loads
        import hashtag_kit.models.encoder_decoder  # noqa: F401

        model, vocabulary, users, config = load_stage(stage_dir)
        if not hasattr(model, "decode"):
            raise IncompatibleRunError(
                f"{stage_dir / 'model.keras'} holds a {type(model).__name__} without a "
                "`decode` method; it is not a hashtag encoder-decoder"
            )
        return cls(
            model,
            vocabulary,
            users,
            config,
            image_encoder=image_encoder,
            text_encoder=text_encoder,
            source=stage_dir,
            weights={"image": image_weights, "text": use_v4},
            trained_on=trained_on,
            compiled=compiled,
        )

    # -- encoders (lazy, once) --------------------------------------------------------------
    def _encoder_config(self, kind: str) -> dict:
        cfg = self.config.get(f"{kind}_encoder")
        if not cfg:
            raise ValueError(
                f"{self.source} was trained without {kind} features: leave the {kind} out"
            )
        return cfg

    def _dim(self, kind: str) -> int:
        """Size of the model's `kind` input (the run's encoder, else the model's own)."""
        dim = (self.config.get(f"{kind}_encoder") or {}).get("dim")
        return int(dim or getattr(self.model, f"{kind}_dim", 0) or 0)

    @property
    def image_dim(self) -> int:
        return self._dim("image")

    @property
    def text_dim(self) -> int:
        return self._dim("text")

    def _encoder(self, kind: str):
        """The `kind` encoder given, else the run's, built on first use and checked."""
        if self._encoders[kind] is None:
            cfg = self._encoder_config(kind)
            encoder = _run_encoder(kind, cfg, self._weights.get(kind))
            _check_same_encoder(kind, cfg, encoder)
            self._encoders[kind] = encoder
        return self._encoders[kind]

    @property
    def image_encoder(self):
        return self._encoder("image")

    @property
    def text_encoder(self):
        return self._encoder("text")

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, Di) pooled features of uint8 images through the run's image encoder.

        Images are prepared exactly as the feature cache prepared the run's training images
        (the encoder's own `prepare`: centre crop and resize), then encoded in one batch.
        """
        enc = self.image_encoder
        if hasattr(enc, "prepare"):
            opts = {} if self.compiled or not isinstance(enc, ImageEncoder) else {"compiled": False}
            pooled = enc.encode(np.stack([enc.prepare(im) for im in images]), grid=False, **opts)
        else:
            pooled = enc.encode(list(images))
        if isinstance(pooled, tuple):
            pooled = pooled[0]
        return np.asarray(pooled, dtype="float32").reshape(len(images), -1)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, Dt) features of texts through the run's text encoder."""
        vectors = self.text_encoder.encode(list(texts))
        return np.asarray(vectors, dtype="float32").reshape(len(texts), -1)

    # -- inputs -----------------------------------------------------------------------------
    def tag_ids(self, tags: Iterable[str]) -> list[int]:
        """Ids of the (normalised) tags that are in the vocabulary, in order, no repeats."""
        ids = (self.tag_to_id.get(t) for t in tags)
        return list(dict.fromkeys(i for i in ids if i is not None and i not in self.special_ids))

    def normalise_existing(
        self, existing: Iterable[str] | str | None, what: str = "existing"
    ) -> list[str]:
        """Tags (typed, accepted or history) normalised (`#Beach` -> `beach`), blanks dropped,
        no repeats; a string is split at commas. A tag that normalises to nothing (`#2019`,
        `%%%`) is kept as typed, so that it is reported as not in the vocabulary, not lost."""
        if existing is None:
            return []
        if isinstance(existing, str):
            existing = existing.split(",")
        elif not isinstance(existing, Iterable):
            raise ValueError(
                f"{what} must be tags (a list, or one comma-separated string), "
                f"got {type(existing).__name__}"
            )
        out = []
        for t in existing:
            if not isinstance(t, str):
                raise ValueError(f"{what} tags must be strings, got {t!r}")
            out.append(normalise_hashtag(t) or t.strip())
        return list(dict.fromkeys(n for n in out if n))

    def _unknown(self, tags: list[str], name: str) -> tuple[list[str], str | None]:
        """The normalised `tags` outside the vocabulary, and the note that names them."""
        unknown = [t for t in tags if self.tag_to_id.get(t) is None]
        if not unknown:
            return [], None
        more = len(unknown) - 20
        return unknown, (
            f"{name} tags not in the model's vocabulary of {len(self.tokens)} (they cannot "
            f"condition it): {', '.join(f'{t:.80}' for t in unknown[:20])}"
            + (f" and {more} more" if more > 0 else "")
        )

    def _history(self, user) -> tuple[list[int], str | None]:
        if user is None:
            return [], None
        ids = self.users.get(str(user))
        if ids is None:
            return [], (
                f"user {user!r:.80} is unknown to this model (not among its training users): "
                "cold-start fallback, recommendations are not personalised"
            )
        return ids, None

    def _inputs(self, feats: dict, histories, prefixes, prefix_width: int) -> dict:
        """The model's inputs (built here only): the features and masks, the users' history
        ids cut to `history_len` and the typed tag ids cut to `prefix_width`, 0-padded."""

        def pad(rows: list[list[int]], width: int) -> np.ndarray:
            out = np.zeros((len(rows), max(width, 1)), dtype="int32")
            for i, r in enumerate(rows):
                out[i, : len(r[:width])] = r[:width]
            return out

        history = pad(histories, self.history_len)
        return {**feats, "history": history, "existing": pad(prefixes, prefix_width)}

    def _decoding(self, k, beam_width, ranking: str) -> tuple[int, int]:
        """`k` and `beam_width` checked (ValueError naming the argument) as ints; a `k` above
        the vocabulary asks for every tag."""
        k, beam_width = _count(k, "k"), _count(beam_width, "beam_width")
        if beam_width > MAX_BEAM_WIDTH:
            raise ValueError(f"beam_width must be at most {MAX_BEAM_WIDTH}, got {beam_width}")
        if ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
        return min(k, len(self.tokens) - len(self.special_ids)), beam_width

    def _decode(self, inputs: dict, exclude: list[set[int]], k: int, beam_width: int, ranking: str):
        """Decode with `k` and `beam_width` already checked (`_decoding`)."""
        if ranking == "beam":
            ids, scores = self.model.decode(inputs, k=k, beam_width=beam_width, exclude=exclude)
        elif hasattr(self.model, "rank_first_step"):
            ids, scores = self.model.rank_first_step(inputs, k=k, exclude=exclude)
        else:
            raise ValueError(
                f"{self.source}: the model has no per-step tag logits to rank "
                "(`rank_first_step`); use ranking='beam'"
            )
        out = []
        for row_ids, row_scores, skip in zip(ids, scores, exclude, strict=True):
            pairs, seen = [], set()
            for i, s in zip(row_ids, row_scores, strict=True):
                i = int(i)
                if i in self.special_ids or i in skip or i in seen or not 0 <= i < len(self.tokens):
                    continue
                seen.add(i)
                pairs.append((self.tokens[i], float(s)))
            out.append(pairs[:k])
        return out

    # -- recommending -----------------------------------------------------------------------
    def recommend(
        self,
        image=None,
        text: str | None = None,
        user=None,
        existing: Iterable[str] | str | None = None,
        k: int = 7,
        beam_width: int = 3,
        ranking: str = "beam",
        *,
        accepted: Iterable[str] | str | None = None,
        history: Iterable[str] | str | None = None,
    ) -> Recommendations:
        """Ranked hashtags with scores for one post.

        Args:
            image: a path to an image file, an (H, W, 3) array, or None.
            text: the caption (hashtags in it are fine: they are not removed), or None.
            user: the author's id; unknown ids get the cold-start fallback (noted) unless
                `history` is given.
            existing: tags the user already typed (`["#beach", "Sunset"]` or `"beach,sunset"`):
                they condition the model and are never suggested.
            k: how many tags.
            beam_width: beam search width.
            ranking: "beam" (the model's beam search, `HashtagEncoderDecoder.decode`) or
                "first_step" (every tag scored by the probability that the decoder emits it
                next after the typed tags, a classifier-style ranking; see
                `hashtag_kit.evaluation.tweets.first_step_ranking`).
            accepted: suggestions the user accepted ("Add", the CNN-RNN Instagram project's
                interaction), in order: fed to the decoder after the typed tags, so the rest
                are re-ranked given them; never suggested again.
            history: the user's own earlier hashtags, most used first: personalises a user
                the model never saw without retraining (the history encoder reads them as a
                training user's tags); for a known user it replaces the stored history. One
                with no tag in the vocabulary (e.g. "") is ignored, with a note. The model
                reads the first `history_len` in-vocabulary tags (a note says when more were
                cut).

        Every typed, accepted or history tag outside the model's vocabulary is listed in
        `.unknown` and a note; none is dropped silently. All typed and accepted tags condition
        the decoder; beyond `existing_len` (what the run was set up for) a note says so.

        Returns:
            `Recommendations`: a list of `(tag, score)`, best first, with `.notes` and
            `.unknown`.

        Raises:
            ValueError: the post has neither an image nor non-blank text, or bad arguments.
            hashtag_kit.data.images.ImageError: the image file is unreadable (names the file).
        """
        if text is not None and not isinstance(text, str):
            raise ValueError(f"text must be a string or None, got {type(text).__name__}")
        k, beam_width = self._decoding(k, beam_width, ranking)  # checked before any encoding
        cleaning = RunReport()
        text = clean_str(text, cleaning, "text")
        if image is None and text is None:
            raise ValueError("empty post: give an image, a non-blank text, or both")
        for kind, given in (("image", image), ("text", text)):
            if given is not None:
                self._encoder_config(kind)
        feats = self._features([image], [text], [None])
        notes = [n for examples in cleaning.examples.values() for n in examples]  # repairs
        if image is not None and self.trained_on in GENERATED_DATASETS:
            notes.append(
                f"this model learned from the kit's generated pictures (dataset "
                f"'{self.trained_on}'), not from photos: for a photo it gives those pictures' "
                "tags. For photos, use a run trained on photos: make reproduce-flickr8k, "
                "then --run outputs/flickr8k"
            )
        unknown: dict[str, list[str]] = {}
        tags = {}
        for name, given in (("existing", existing), ("accepted", accepted), ("history", history)):
            tags[name] = self.normalise_existing(given, name)
            unknown[name], note = self._unknown(tags[name], name)
            notes += [note] if note else []
        hist_ids = self.tag_ids(tags["history"])
        if history is not None and hist_ids:
            note = None
            if len(hist_ids) > self.history_len:
                notes.append(
                    f"history: the model reads {self.history_len} tags; "
                    f"{len(hist_ids) - self.history_len} more were cut"
                )
        else:
            if history is not None:  # e.g. "" or ",,,": nothing to personalise with
                stored = user is not None and str(user) in self.users
                notes.append(
                    "the given history has no tag in the model's vocabulary: ignored"
                    + (f" (user {user!r}'s stored history is used)" if stored else "")
                )
            hist_ids, note = self._history(user)
        typed = list(dict.fromkeys(tags["existing"] + tags["accepted"]))
        prefix_ids = self.tag_ids(typed)
        if len(prefix_ids) > self.existing_len > 0:
            notes.append(
                f"{len(prefix_ids)} typed and accepted tags condition the decoder; the run "
                f"was set up for up to {self.existing_len}"
            )
        inputs = self._inputs(feats, [hist_ids], [prefix_ids], max(len(prefix_ids), 1))
        (pairs,) = self._decode(inputs, [set(prefix_ids)], k, beam_width, ranking)
        pairs = [(t, s) for t, s in pairs if t not in typed]
        if note:
            notes.append(note)
            log.warning(note)
        return Recommendations(pairs, notes=notes, cold_start=note is not None, unknown=unknown)

    def recommend_batch(
        self,
        posts: Sequence[Post] | None = None,
        *,
        features: dict | None = None,
        users: Sequence | None = None,
        existing: Sequence[Iterable[str] | None] | None = None,
        k: int = 7,
        beam_width: int = 3,
        ranking: str = "beam",
        batch_size: int = 256,
        report: RunReport | None = None,
    ) -> list[Recommendations]:
        """Recommendations for many posts at once, in order.

        Either `posts` (their images and texts are encoded, or taken from `features`), or
        `features` alone (cached features: no encoding at all).

        Args:
            posts: `Post`s; `post.user` is the author (unless `users` is given). Their
                hashtags are NOT used (they are what is being predicted).
            features: precomputed features: {"image": FeatureSet | (N, Di) array,
                "text": FeatureSet | (N, Dt) array, "image_mask": (N,), "text_mask": (N,)}
                (masks default to the FeatureSets' masks or to all-present). With `posts`,
                FeatureSets are aligned to the posts by id.
            users: author ids per post (overrides `post.user`).
            existing: per post, tags the user already typed (never suggested).
            k, beam_width, ranking: as in `recommend`.
            batch_size: posts per decode call.
            report: when given, unreadable images are dropped (the post keeps its text) and
                empty posts get an empty result, each counted here; without a report they raise.

        Raises:
            ValueError: an empty post (names it) without a report, or misaligned arguments.
            hashtag_kit.data.images.ImageError: an unreadable image without a report.
        """
        k, beam_width = self._decoding(k, beam_width, ranking)
        feats = self._batch_features(posts, features, report)
        n = len(feats["image"])
        if users is None:
            users = [p.user for p in posts] if posts is not None else [None] * n
        if existing is None:
            existing = [None] * n
        if len(users) != n or len(existing) != n:
            raise ValueError(f"{n} posts but {len(users)} users and {len(existing)} existing lists")
        names = [p.id for p in posts] if posts is not None else [f"row {i}" for i in range(n)]
        empty = (feats["image_mask"] == 0) & (feats["text_mask"] == 0)
        for i in np.flatnonzero(empty):
            if report is None:
                raise ValueError(f"post {names[i]}: empty post, it has neither image nor text")
            report.skip("empty_post", names[i], "neither image nor text")
        found = [self._history(u) for u in users]  # ids, and the cold-start note of an unknown user
        histories, notes = [h for h, _ in found], [note for _, note in found]
        typed = [self.normalise_existing(e) for e in existing]
        ex_ids = [self.tag_ids(t) for t in typed]
        unknown = [self._unknown(t, "existing") for t in typed]
        cold = sum(1 for x in notes if x)
        if cold:
            log.info("%d of %d posts have users unknown to the model (cold start)", cold, n)
        results: list[Recommendations] = [Recommendations() for _ in range(n)]
        keep = np.flatnonzero(~empty)
        for start in range(0, len(keep), batch_size):
            idx = keep[start : start + batch_size]
            inputs = self._inputs(
                {key: v[idx] for key, v in feats.items()},
                [histories[i] for i in idx],
                [ex_ids[i] for i in idx],
                self.existing_len,
            )
            decoded = self._decode(inputs, [set(ex_ids[i]) for i in idx], k, beam_width, ranking)
            for i, pairs in zip(idx, decoded, strict=True):
                results[i] = Recommendations(
                    [(t, s) for t, s in pairs if t not in typed[i]],
                    notes=[x for x in (unknown[i][1], notes[i]) if x],
                    cold_start=notes[i] is not None,
                    unknown={"existing": unknown[i][0]},
                )
        for i in np.flatnonzero(empty):
            results[i].notes.append("empty post: neither image nor text; nothing recommended")
        return results

    def _batch_features(self, posts, features, report) -> dict:
        """{"image", "image_mask", "text", "text_mask"} arrays for a batch: given features
        (FeatureSets aligned to the posts by id, or arrays), else the posts' own, encoded."""
        features = dict(features or {})
        if posts is None and not features:
            raise ValueError("recommend_batch needs posts, features, or both")
        out = {}
        for kind in ("image", "text"):
            f = features.get(kind)
            if f is None:
                continue
            mask = features.get(f"{kind}_mask")
            if hasattr(f, "pooled"):  # a FeatureSet
                f = f.take([p.id for p in posts], grid=False) if posts is not None else f
                f, mask = f.pooled, f.mask if mask is None else mask
            f = np.asarray(f, dtype="float32")
            dim = self._dim(kind)
            if f.ndim != 2 or (dim and f.shape[1] != dim):
                raise ValueError(f"features[{kind!r}] must be (N, {dim}), got shape {f.shape}")
            if not np.isfinite(f).all():
                raise ValueError(f"features[{kind!r}] has NaN or infinite values")
            mask = np.ones(len(f)) if mask is None else mask
            out[kind], out[f"{kind}_mask"] = f, np.asarray(mask, dtype="float32").reshape(-1)
        n = len(posts) if posts is not None else len(next(iter(out.values())))
        images, texts, names = [None] * n, [None] * n, [None] * n  # a kind not given: all zero
        if posts is not None:
            names = [f"post {p.id}" for p in posts]
            if "image" not in out:
                images = [p.image if p.has_image else None for p in posts]
            if "text" not in out:  # cleaned as the loaders clean captions
                texts = [clean_str(p.text, report, w) for p, w in zip(posts, names, strict=True)]
        if "image" not in out or "text" not in out:  # cached features for both: nothing to add
            out = {**self._features(images, texts, names, report), **out}
        for name, arr in out.items():
            if len(arr) != n:
                raise ValueError(f"features[{name!r}] has {len(arr)} rows for {n} posts")
        out["image"] = out["image"] * out["image_mask"][:, None]
        out["text"] = out["text"] * out["text_mask"][:, None]
        return out

    def _features(self, images, texts, names, report: RunReport | None = None) -> dict:
        """The model's feature inputs for posts, encoded with the run's encoders (the one
        place raw posts become features): {"image": (N, Di), "image_mask": (N,), "text":
        (N, Dt), "text_mask": (N,)}. `images` are paths, arrays or None; `texts` cleaned
        strings or None; `names` label the posts in messages (None: the error as it is). A
        modality the run was trained without is left out (all zero). An unreadable image is
        noted in `report` and left out, or raised without one."""
        n, out = len(names), {}
        for kind in ("image", "text"):
            out[kind] = np.zeros((n, self._dim(kind)), "float32")
            out[f"{kind}_mask"] = np.zeros(n, "float32")
        pixels, rows = [], []
        for i, image in enumerate(images if self.config.get("image_encoder") else []):
            if image is None:
                continue
            try:
                pixels.append(read_image(image, where=names[i] or "image"))
            except ImageError as e:
                if report is None and names[i] is None:
                    raise
                if report is None:
                    raise ImageError(f"{names[i]}: {e.path}", e.reason) from e
                report.note("unreadable_image", f"{names[i]} ({image})", str(e))
                continue
            rows.append(i)
        for start in range(0, len(rows), 32):
            chunk = rows[start : start + 32]
            out["image"][chunk] = self.encode_images(pixels[start : start + 32])
            out["image_mask"][chunk] = 1.0
        rows = [i for i, t in enumerate(texts if self.config.get("text_encoder") else []) if t]
        if rows:
            out["text"][rows] = self.encode_texts([texts[i] for i in rows])
            out["text_mask"][rows] = 1.0
        return out


def _count(value, name: str) -> int:
    """A positive integer argument (`3` or `3.0`), else a ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not math.isfinite(value) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_config(config: dict, where: str) -> None:
    """The settings a recommender reads from model_config.json, of the right types, else an
    `IncompatibleRunError` naming the file (`where`)."""
    for kind in ("image", "text"):
        cfg = config.get(f"{kind}_encoder")
        if cfg and not (
            isinstance(cfg, dict)
            and isinstance(cfg.get("name"), str)
            and (cfg.get("dim") is None or type(cfg.get("dim")) is int)
        ):
            raise IncompatibleRunError(
                f"{where}: {kind}_encoder must be an object with a 'name' string and an "
                f"integer 'dim', got {cfg!r:.80}; re-run notebook 02 for this run"
            )
    for key in ("history_len", "existing_len"):
        value = config.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise IncompatibleRunError(
                f"{where}: {key} must be a non-negative integer, got {value!r:.80}; "
                "re-run notebook 02 for this run"
            )


# -- one post, from the command line ------------------------------------------------------
@contextlib.contextmanager
def _kit_log_level(level: int):
    """The kit's logger at `level` for the block: in the command, every remark the recommender
    logs is also one of the result's notes, which the command prints itself."""
    kit = logging.getLogger("hashtag_kit")
    saved = kit.level
    kit.setLevel(level)
    try:
        yield
    finally:
        kit.setLevel(saved)


def _early_text_encoder(run, text, use_v4, verbose: bool):
    """For a caption and a run whose text encoder needs no TensorFlow (USE multilingual v3),
    a `_WorkerTextEncoder` whose child process encodes the cleaned caption on the other core
    while this one imports TensorFlow and loads the model; None otherwise, or on one core."""
    text = clean_str(text)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if text is None or (cores or 1) < 2 or use_v4:
        return None
    try:
        stage_dir = _resolve_stage_dir(run, ENCODER_DECODER)
        cfg = read_json(stage_dir / "model_config.json").get("text_encoder") or {}
    except (OSError, ValueError, AttributeError):
        return None  # Recommender.load says what is wrong
    if cfg.get("name") not in NUMPY_TEXT_ENCODERS:
        return None
    return _WorkerTextEncoder(TextEncodingWorker(cfg["name"], [text], show_errors=verbose), cfg)


class _WorkerTextEncoder:
    """The text encoder of the command: the worker's vectors (waited for on first use), else
    the run's encoder loaded here; `close` ends the worker."""

    def __init__(self, worker, cfg: dict) -> None:
        self._worker, self._cfg, self._enc = worker, cfg, None

    def _get(self):
        if self._enc is None:
            self._enc = self._worker.result() or _run_encoder("text", self._cfg)
        return self._enc

    def __getattr__(self, name):  # encode, name, dim, digest, weights: the encoder's own
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._get(), name)

    def close(self) -> None:
        self._worker.close()


def recommend_once(
    run: str | Path,
    *,
    image_weights: str | None = None,
    use_v4: str | None = None,
    verbose: bool = False,
    **post,
) -> Recommendations:
    """One post's hashtags in a fresh process, as the `recommend` command makes them (module
    docstring); the kit's remarks go to the notes. `post`: `Recommender.recommend`'s arguments."""
    text_encoder = _early_text_encoder(run, post.get("text"), use_v4, verbose)
    try:
        with _kit_log_level(logging.NOTSET if verbose else logging.ERROR):
            rec = Recommender.load(
                run,
                image_weights=image_weights,
                use_v4=use_v4,
                compiled=False,
                text_encoder=text_encoder,
            )
            return rec.recommend(**post)
    finally:
        if text_encoder is not None:
            text_encoder.close()
