"""Score a finished Flickr8k run on any Flickr8k split, without retraining.

    python -m hashtag_kit evaluate flickr8k --run outputs/f8k --split test \\
        [--data-dir DIR] [--out OUTDIR] [--limit N] [--beam 3] [--length-penalty A]
        [--images-dir DIR]

For users who receive more photos, and for scoring finished runs on the 1,000 official test
photos (withheld from the kit's shared copy, so a run's own "official" test figures are dev
figures: `hashtag_kit.data.splits.withheld_test_images`). On 2 cores the dev split takes a few
minutes; `--limit 20` about a minute.

Protocol:

1. Posts: `load_flickr8k(DIR, split=...)` with the run's loader options (run.json
   `preprocess.loader_options`; Flickr8k-tags from captions #1-#4 by default), one post per photo
   of the split's list (`Flickr_8k.testImages.txt` or `Flickr_8k.devImages.txt`), in the token
   file's order; the truth is each photo's tags in the run's vocabulary
   (`01_preprocess/vocab.json`). Photos whose file is missing or unreadable are skipped and
   counted (`skipped`); no photo present is an error naming the folder and the list, none
   readable one naming a photo. `--limit N` keeps the first N photos present (the rest counted
   as `beyond_limit`).
2. Features: image pooled + grid and caption-#0 text features with the encoders recorded in
   run.json (other weights or feature size: an error; another encoder id, i.e. a changed input
   pipeline: said in `warnings`), through the content-keyed feature cache under `OUTDIR/cache/`
   (or `$HASHTAG_KIT_FEATURE_CACHE`); the run's own feature folder is only read (kNN).
3. Captions, scored on every photo with BLEU-1..4, METEOR, ROUGE-L, CIDEr-D against its 5 human
   captions (`hashtag_kit.evaluation.captions.score_systems`): notebook 04's Show-Attend-Tell and
   merge decoders, greedy and beam (`--beam`; the beam's final choice with the run's length
   penalty unless `--length-penalty`), and the most frequent caption of the run's training photos.
4. Hashtags, Hit / P / R / F1 at K = 1..10 and MRR (`ranking_metrics`) on the photos with at
   least one vocabulary tag: notebook 02's encoder-decoder as `Recommender.recommend_batch`
   serves it (beam `--beam`) with image + caption #0 and with the image only; notebook 03's
   attention LSTM/BiLSTM; captions -> hashtags (Verma et al.; `evaluate_caption_hashtags`, top
   10, vocabulary-matched) from each decoder's beam caption, the most frequent caption, and human
   caption #0 (the reference point: the tags come from captions #1-#4); popularity and kNN image
   (10 neighbours) fitted on the run's training posts; zero-shot ImageNet labels.
5. A model whose stage files are missing or unloadable is listed under `missing` with the
   reason. The evaluation stops (exit 2, one line, no traceback) only on user errors: a bad
   option, no photo of the split present or readable, a run that is not a Flickr8k run with
   notebook 01's outputs and features (or whose run.json, notebook 01 files or notebook 02's
   model_config.json are damaged: the message names the file), encoder weights not available.

Output `OUTDIR/metrics.json` (default `RUN/evaluate_flickr8k/<split>/`), written atomically;
`SCHEMA_VERSION` changes only when a field below changes meaning or goes away:

    schema_version   int, SCHEMA_VERSION
    evaluation       "flickr8k"
    run              the run directory (absolute); run_info: its dataset, run_mode, seed,
                     official_test_part, the split its training posts come from (train_split)
    split            "test" or "dev"; data_dir, images_dir: where the photos were read
    n_listed         photos of the split's list with captions in the token file
    n_photos         photos evaluated (captions are scored on all of them)
    n_hashtag_photos photos with at least one vocabulary tag (hashtags are scored on them)
    skipped          {"no_captions" (listed, but no line of the token file), "photo_missing",
                      "unreadable_photo", "beyond_limit", "no_tag_in_vocab" (scored for
                      captions, not for hashtags),
                      "in_run_training" (evaluated photos that the run trained on)}: counts
    encoders         {"image": info, "text": info} of the encoders used here (name, weights,
                     digest, id, ...); run_encoders: as run.json records them (same weights
                     always; another id = another input pipeline version, see warnings)
    warnings         [str]: what may make the figures differ from the run's own protocol
    settings         beam, length_penalty, k, ks, n_neighbours, max_caption_length,
                     attention_max_len (with where each of the three came from),
                     loader_options, tag_source, n_vocab_tags, limit
    captions         {model: {bleu1, bleu2, bleu3, bleu4, meteor, rouge_l, cider, n_images}}
                     models: CAPTION_MODELS (beam keys carry the width, e.g. "merge beam3")
    hashtags         {model: ranking_metrics dict (hit_rate, precision, recall, f1,
                      micro_precision, micro_recall keyed "1".."10"; mrr; n_posts;
                      n_posts_without_tags)}; models: HASHTAG_MODELS
    missing          {model: why it could not be evaluated}
    samples          [{id, reference (caption #0), caption (Show-Attend-Tell beam), hashtags
                      (encoder-decoder image+text, top 5), caption_hashtags, true_hashtags}]
    report           the RunReport of everything skipped or repaired
    seconds, environment

Example:
    >>> from hashtag_kit.evaluation.flickr8k import SCHEMA_VERSION, HASHTAG_MODELS
    >>> SCHEMA_VERSION, HASHTAG_MODELS[0]
    (1, 'encoder-decoder image+text')
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from hashtag_kit.baselines.caption_hashtags import captions_to_hashtags, evaluate_caption_hashtags
from hashtag_kit.baselines.ranking import NearestNeighbourRecommender, PopularityRecommender
from hashtag_kit.baselines.zero_shot import ZeroShotRecommender
from hashtag_kit.data.flickr8k import IMAGE_DIR_NAMES, SPLIT_FILES, load_flickr8k
from hashtag_kit.data.posts import Post
from hashtag_kit.encoders.image import WeightsUnavailableError
from hashtag_kit.evaluation.captions import score_systems
from hashtag_kit.evaluation.ranking import ranking_metrics, top_k_from_scores
from hashtag_kit.features.cache import FeatureSet, extract_features, load_features
from hashtag_kit.preprocess import dedupe_tags, drop_unreadable_images
from hashtag_kit.recommender import (
    MAX_BEAM_WIDTH,
    EncoderMismatchError,
    Recommender,
    _check_same_encoder,
    _run_encoder,
)
from hashtag_kit.report import RunReport
from hashtag_kit.run import (
    ATTENTION,
    CAPTION,
    ENCODER_DECODER,
    PREPROCESS,
    JSONFileError,
    RunDir,
    RunFormatError,
    environment,
    read_json,
    write_json,
)
from hashtag_kit.stage import IncompatibleRunError, load_stage
from hashtag_kit.text import MAX_TEXT_WORDS

#: bumped when a field of metrics.json changes meaning or goes away (new fields keep it)
SCHEMA_VERSION = 1
STAGE = "evaluate_flickr8k"
#: command-line split -> `load_flickr8k`'s split (the dev list is the loader's "val")
SPLITS = {"test": "test", "dev": "val"}
KS = tuple(range(1, 11))
HASHTAGS_K = 10  # list length of every hashtag model (notebook 04's HASHTAGS_K)
DEFAULT_BEAM = 3  # notebooks 02 and 04's BEAM_WIDTH
N_NEIGHBOURS = 10  # notebook 03's N_NEIGHBOURS
#: notebook defaults used when the run did not record the setting
DEFAULT_MAX_CAPTION_LENGTH = 20  # notebook 04's MAX_CAPTION_LENGTH
DEFAULT_LENGTH_PENALTY = 0.0  # notebook 04's LENGTH_PENALTY
DEFAULT_ATTENTION_MAX_LEN = 24  # notebook 03's MAX_LEN
N_SAMPLES = 5
#: run.json `preprocess.loader_options` the evaluation knows: it passes `tags` on; split and
#: limit are its own; the run's `images_dir` is where photos are looked for without --images-dir
LOADER_OPTIONS = frozenset({"tags", "split", "limit", "images_dir"})
CAPTION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider")
CAPTION_DECODERS = {"show-attend-tell": "caption_model.keras", "merge": "merge_caption_model.keras"}
MOST_FREQUENT = "most frequent caption"
HUMAN_CAPTION = "human caption #0"


def _decoded_name(decoder: str, width: int) -> str:
    """A decoder's key in `captions` at a beam width (notebook 04's names)."""
    return f"{decoder} {'greedy' if width == 1 else f'beam{width}'}"


def caption_model_names(beam: int = DEFAULT_BEAM) -> list[str]:
    """The keys of `captions`: each decoder greedy and beam, then the baseline."""
    widths = sorted({1, beam})
    return [*(_decoded_name(name, w) for name in CAPTION_DECODERS for w in widths), MOST_FREQUENT]


CAPTION_MODELS = tuple(caption_model_names())
HASHTAG_MODELS = (
    "encoder-decoder image+text",
    "encoder-decoder image only",
    "attention LSTM/BiLSTM",
    "captions->tags show-attend-tell",
    "captions->tags merge",
    f"captions->tags {MOST_FREQUENT}",
    f"captions->tags {HUMAN_CAPTION}",
    "popularity",
    "kNN image",
    "zero-shot ImageNet labels",
)


class EvaluationError(Exception):
    """A user error (bad option, folder, or run): one line, exit code 2."""


# -- posts -------------------------------------------------------------------------------------
def _run_info(rd: RunDir) -> tuple[dict, dict]:
    """(run.json, its loader options), checked: a Flickr8k run whose notebook 01 has finished."""
    if not rd.path.is_dir() or not rd.meta_path.is_file():
        raise EvaluationError(
            f"{rd.path} is not a run directory (no run.json; pass --run outputs/<run>)"
        )
    try:
        meta = rd.meta()
    except RunFormatError as e:
        raise EvaluationError(str(e)) from None
    dataset = meta.get("dataset")
    if dataset != "flickr8k":
        raise EvaluationError(
            f"{rd.meta_path}: the run's dataset is {dataset!r}, not 'flickr8k': evaluate a run "
            "made with `reproduce --dataset flickr8k`"
        )
    for name in ("posts.jsonl", "splits.json", "vocab.json"):
        if not (rd.path / "01_preprocess" / name).exists():
            raise EvaluationError(
                f"{rd.path / '01_preprocess' / name} is missing: run notebook 01 for this run"
            )
    encoders = meta.get("encoders") or {}
    for kind in ("image", "text"):
        if not isinstance(encoders, dict) or not isinstance(encoders.get(kind), dict):
            raise EvaluationError(
                f"{rd.meta_path} records no {kind} encoder: run notebook 01's feature section"
            )
    preprocess = meta.get("preprocess") or {}
    if not isinstance(preprocess, dict):
        raise EvaluationError(
            f"{rd.meta_path}: 'preprocess' is not a JSON object: re-run notebook 01"
        )
    options = preprocess.get("loader_options") or {}
    if not isinstance(options, dict) or set(options) - LOADER_OPTIONS:
        raise EvaluationError(
            f"{rd.meta_path}: preprocess.loader_options {options!r} is not options of the "
            f"Flickr8k loader (any of {sorted(LOADER_OPTIONS)})"
        )
    return meta, options


def _run_posts(rd: RunDir) -> tuple[list[str], str, list[Post]]:
    """(the run's hashtag vocabulary, its training split's name, its training posts), from
    notebook 01's files; a damaged file is an error naming it."""
    try:
        vocab = rd.load_vocab().get("hashtags")
        train_split = train_split_name(rd)  # reads splits.json
    except JSONFileError as e:
        raise EvaluationError(str(e)) from None
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise EvaluationError(f"{rd.path / PREPROCESS / 'vocab.json'}: no list of hashtags")
    try:
        train_posts = rd.split_posts(train_split)["train"]
    except ValueError as e:  # a damaged posts.jsonl line or split (names the file)
        raise EvaluationError(str(e)) from None
    except KeyError as e:  # no such split
        raise EvaluationError(str(e.args[0])) from None
    return vocab, train_split, train_posts


def train_split_name(rd: RunDir) -> str:
    """The split the run's models trained on: notebook 02's, else official, else random."""
    splits = rd.load_splits()
    config = rd.path / ENCODER_DECODER / "model_config.json"
    if config.exists():
        try:
            name = read_json(config).get("split")
        except (ValueError, AttributeError) as e:
            raise EvaluationError(f"{config}: not a JSON object of settings ({e})") from None
        if isinstance(name, str) and name in splits:
            return name
    return "official" if "official" in splits else "random"


def load_split_posts(
    data_dir: str | Path,
    split: str,
    vocab: Sequence[str],
    report: RunReport,
    *,
    loader_options: dict | None = None,
    images_dir: str | Path | None = None,
    limit: int | None = None,
) -> tuple[list[Post], dict, Path | None]:
    """The split's photos as posts, the truth restricted to `vocab`, and what was skipped.

    Returns:
        (posts with a readable photo, in token-file order; counts {"n_listed", "no_captions",
        "photo_missing", "unreadable_photo", "beyond_limit", "no_tag_in_vocab"}; the images
        folder).

    Raises:
        EvaluationError: bad split, no photo of the split listed, present or readable (names
            the folder).
    """
    if split not in SPLITS:
        raise EvaluationError(f"--split must be one of {sorted(SPLITS)}, got {split!r}")
    root = Path(data_dir)
    if not root.is_dir():
        raise EvaluationError(f"--data-dir {root} is not a folder (the Flickr8k folder)")
    options = {k: v for k, v in (loader_options or {}).items() if k == "tags"}
    if images_dir is None:
        images_dir = (loader_options or {}).get("images_dir")
    if images_dir is None:
        images_dir = next((root / d for d in IMAGE_DIR_NAMES if (root / d).is_dir()), None)
    elif not Path(images_dir).is_dir():
        raise EvaluationError(
            f"images folder {images_dir} (--images-dir, else the run's) is not a folder"
        )
    list_file = root / SPLIT_FILES[SPLITS[split]]
    uncaptioned = report.counts["split_image_without_captions"]
    try:
        listed = load_flickr8k(root, report, split=SPLITS[split], images_dir=images_dir, **options)
    except (FileNotFoundError, ValueError) as e:  # the loaders' DatasetNotFoundError included
        raise EvaluationError(" ".join(str(e).split())) from e
    if not listed:
        raise EvaluationError(
            f"no photo of the {split} split: {list_file} is missing or lists no photo of "
            f"{root / 'Flickr8k.token.txt'}"
        )
    where = images_dir if images_dir is not None else f"{root} (no {'/'.join(IMAGE_DIR_NAMES)})"
    present = [p for p in listed if p.has_image]
    if not present:
        raise EvaluationError(
            f"none of the {len(listed)} photos of the {split} split ({list_file.name}) is in "
            f"{where}: copy the photos there or pass --images-dir"
        )
    checked = drop_unreadable_images(present, report)
    readable = [p for p in checked if p.has_image]
    if not readable:
        raise EvaluationError(
            f"none of the {len(present)} photos of the {split} split in {where} can be read "
            f"(e.g. {present[0].image}: {checked[0].meta.get('image_error')})"
        )
    kept = readable[:limit] if limit else readable
    in_vocab = set(vocab)
    posts = [
        replace(p, hashtags=[t for t in p.hashtags if t in in_vocab]) for p in dedupe_tags(kept)
    ]
    counts = {
        "n_listed": len(listed),
        "no_captions": report.counts["split_image_without_captions"] - uncaptioned,
        "photo_missing": len(listed) - len(present),
        "unreadable_photo": len(present) - len(readable),
        "beyond_limit": len(readable) - len(kept),
        "no_tag_in_vocab": sum(1 for p in posts if not p.hashtags),
    }
    return posts, counts, Path(images_dir) if images_dir is not None else None


# -- features ----------------------------------------------------------------------------------
def run_encoders(meta: dict, warnings: list[str] | None = None) -> dict:
    """The run's image and text encoders, checked against run.json (module docstring, step 2:
    other weights or feature size are an error, another id with the same weights a warning)."""
    warnings = warnings if warnings is not None else []
    out = {}
    for kind in ("image", "text"):
        want = meta["encoders"][kind]
        try:
            enc = _run_encoder(kind, want)
            _check_same_encoder(kind, want, enc)
        except (WeightsUnavailableError, EncoderMismatchError, OSError, ValueError) as e:
            raise EvaluationError(
                f"the run's {kind} encoder {want.get('name')!r} cannot be used here: "
                + " ".join(str(e).split())
            ) from e
        if want.get("id") and getattr(enc, "id", want["id"]) != want["id"]:
            warnings.append(
                f"the run's {kind} features came from {want['id']}, these from {enc.id}: same "
                "weights, another input pipeline version (features close, not identical)"
            )
        out[kind] = enc
    return out


# -- captions ----------------------------------------------------------------------------------
def _recorded(rd: RunDir, stage: str, keys: Sequence[str], default, kind: type = int):
    """A setting from a stage's metrics.json (`extra` then the nested `keys`), else `default`.
    `kind` int takes a length in words, 1 to `MAX_TEXT_WORDS` (else an EvaluationError naming
    the file); float takes any finite number.

    Returns (value, where it came from)."""
    path = rd.path / stage / "metrics.json"
    if path.exists():
        node = read_json(path).get("extra") or {}
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        number = isinstance(node, (float, int) if kind is float else int)
        if number and not isinstance(node, bool) and math.isfinite(node):
            if kind is int and not 1 <= node <= MAX_TEXT_WORDS:
                raise EvaluationError(
                    f"{path}: extra.{'.'.join(keys)} is {node:,}, not a length in words "
                    f"(1 to {MAX_TEXT_WORDS:,})"
                )
            return kind(node), f"{stage}/metrics.json extra.{'.'.join(keys)}"
    return default, "notebook default (not recorded by the run)"


def most_frequent_training_caption(train_posts: Sequence[Post]) -> str | None:
    """Notebook 04's trivial baseline: the training photos' most frequent reference caption."""
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.captioning import CaptionData, most_frequent_reference, references_of

    refs = {p.id: references_of(p) for p in train_posts if p.has_image and references_of(p)}
    if not refs:
        return None
    data = CaptionData(  # references only: all `most_frequent_reference` reads
        ids=list(refs),
        grid=np.zeros((0, 1, 1), "float16"),
        references=refs,
        images={},
        pair_image=np.zeros(0, "int64"),
        pair_tokens=np.zeros((0, 1), "int32"),
    )
    return most_frequent_reference(data)


def generate_split_captions(
    rd: RunDir,
    posts,
    image_fs,
    beam: int,
    max_length: int,
    missing: dict,
    report,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
) -> tuple[dict, dict]:
    """Decoded captions {system: {post id: caption}} of notebook 04's decoders, and the
    references {post id: [5 captions]} of the photos they describe."""
    # lazy: TensorFlow / Keras take seconds to import; importing the decoders registers them
    from hashtag_kit.captioning import CaptionTokenizer, build_caption_data
    from hashtag_kit.models.caption_decoder import generate_captions

    decoded: dict[str, dict[str, str]] = {}
    data = None
    for name, fname in CAPTION_DECODERS.items():
        try:
            model, tok, _, _ = load_stage(
                rd.path / CAPTION,
                model_file=fname,
                vocab_file="caption_tokenizer.json",
                users_file=None,
                vocabulary_class=CaptionTokenizer,
            )
        except (FileNotFoundError, IncompatibleRunError) as e:  # reported, not fatal
            missing[name] = " ".join(str(e).split())
            continue
        if data is None:
            data = build_caption_data(posts, image_fs, tok, max_length=max_length, report=report)
        for width in sorted({1, beam}):
            texts, _ = generate_captions(
                model,
                data.grid,
                tok,
                beam_width=width,
                max_length=max_length,
                length_penalty=length_penalty,
            )
            decoded[_decoded_name(name, width)] = dict(zip(data.ids, texts, strict=True))
    return decoded, data.references if data is not None else {}


# -- hashtags ----------------------------------------------------------------------------------
def encoder_decoder_rankings(rd: RunDir, posts, image_fs, text_fs, beam: int, missing, report):
    """{"image+text": ranked lists, "image only": ranked lists} from notebook 02's model, as
    `Recommender.recommend_batch` serves it (no users: Flickr8k has none)."""
    names = ("encoder-decoder image+text", "encoder-decoder image only")
    try:
        rec = Recommender.load(rd.path)
    except (FileNotFoundError, IncompatibleRunError) as e:
        missing.update(dict.fromkeys(names, " ".join(str(e).split())))
        return {}
    for kind, fs in (("image", image_fs), ("text", text_fs)):
        want = rec.config.get(f"{kind}_encoder") or {}
        for key in ("digest", "dim"):
            if want.get(key) and str(want[key]) != str(fs.encoder.get(key)):
                why = (
                    f"{rec.source}: the model reads {kind} features with {key} {want[key]}, "
                    f"the run's encoder gives {fs.encoder.get(key)}"
                )
                missing.update(dict.fromkeys(names, why))
                return {}
    n = len(posts)
    no_text = {"text": np.zeros((n, text_fs.dim), "float32"), "text_mask": np.zeros(n, "float32")}
    out = {}
    for name, features in (
        (names[0], {"image": image_fs, "text": text_fs}),
        (names[1], {"image": image_fs, **no_text}),
    ):
        recs = rec.recommend_batch(
            posts, features=features, k=HASHTAGS_K, beam_width=beam, report=report
        )
        out[name] = [r.tags for r in recs]
    return out


def attention_rankings(rd: RunDir, posts, image_fs, tags, max_len: int, missing) -> dict:
    """{"attention LSTM/BiLSTM": ranked lists} from notebook 03's saved model."""
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.models.attention_classifier import WordVocabulary, predict_attention

    name = "attention LSTM/BiLSTM"
    stage = rd.path / ATTENTION
    try:
        model, words, _, _ = load_stage(
            stage, vocab_file="word_vocab.json", users_file=None, vocabulary_class=WordVocabulary
        )
    except (FileNotFoundError, IncompatibleRunError) as e:  # reported, not fatal
        missing[name] = " ".join(str(e).split())
        return {}
    if getattr(model, "n_tags", len(tags)) != len(tags):
        missing[name] = (
            f"{stage / 'model.keras'} scores {model.n_tags} tags but the run's vocabulary has "
            f"{len(tags)}: the files come from different runs"
        )
        return {}
    probs, _ = predict_attention(model, posts, image_fs, words, max_len)
    return {name: top_k_from_scores(probs, tags, HASHTAGS_K)}


def baseline_rankings(rd, train_posts, posts, image_fs, tags, missing, report) -> dict:
    """Popularity and kNN image (fitted on the run's training posts and their cached image
    features), and zero-shot ImageNet labels (notebook 03's baselines)."""
    out = {}
    try:
        pop = PopularityRecommender().fit(train_posts, tags)
    except ValueError as e:  # no training post with a vocabulary tag
        missing["popularity"] = missing["kNN image"] = f"{rd.path}: {e}"
    else:
        out["popularity"] = pop.recommend(posts, HASHTAGS_K)
        try:
            train_fs = load_features(rd.path, "image", ids=[p.id for p in train_posts], grid=False)
            both = FeatureSet(  # the query photos' rows after the training posts'
                ids=[*train_fs.ids, *image_fs.ids],
                pooled=np.concatenate([train_fs.pooled, image_fs.pooled]),
                grid=None,
                mask=np.concatenate([train_fs.mask, image_fs.mask]),
                encoder=dict(image_fs.encoder),
            )
            knn = NearestNeighbourRecommender(both, n_neighbours=N_NEIGHBOURS)
            out["kNN image"] = knn.fit(train_posts, tags).recommend(posts, HASHTAGS_K)
        except (FileNotFoundError, RuntimeError, KeyError, ValueError) as e:
            missing["kNN image"] = " ".join(str(e).split())
    try:
        zs = ZeroShotRecommender(tags=tags, n_labels=5)
        out["zero-shot ImageNet labels"] = zs.recommend(posts, HASHTAGS_K, report=report)
    except WeightsUnavailableError as e:
        missing["zero-shot ImageNet labels"] = " ".join(str(e).split())
    return out


def score_captions(
    rd: RunDir,
    posts,
    image_fs,
    train_posts,
    beam: int,
    max_length: int,
    missing,
    report,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
) -> tuple[dict, dict]:
    """({system: {bleu1..4, meteor, rouge_l, cider, n_images}}, the decoded captions
    {system: {post id: caption}}) against each photo's 5 human captions."""
    decoded, refs = generate_split_captions(
        rd, posts, image_fs, beam, max_length, missing, report, length_penalty
    )
    for name in [n for n in missing if n in CAPTION_DECODERS]:  # its captions and tags
        why = missing.pop(name)
        for width in sorted({1, beam}):
            missing[_decoded_name(name, width)] = why
        missing[f"captions->tags {name}"] = why
    if not refs:  # no caption decoder: the photos' own captions are the references
        refs = {p.id: [c for c in p.captions if c and c.strip()] for p in posts}
    frequent = most_frequent_training_caption(train_posts)
    if frequent is not None:
        decoded[MOST_FREQUENT] = dict.fromkeys(refs, frequent)
    else:
        missing[MOST_FREQUENT] = "no training photo of the run has captions"
    scores = score_systems(refs, decoded) if decoded else {}
    captions = {
        name: {**{m: s[m] for m in CAPTION_METRICS}, "n_images": s["n_images"]}
        for name, s in scores.items()
    }
    return captions, decoded


def score_hashtags(posts, ranked: dict, sources: dict, vocab, missing: dict, report) -> dict:
    """{model: ranking_metrics} in `HASHTAG_MODELS` order, from ranked lists {model: lists}
    and captions {source: {post id: caption(s)}} turned into hashtags (`captions->tags`).

    Photos without a vocabulary tag are counted by `ranking_metrics`, not scored."""
    if not any(p.hashtags for p in posts):
        report.note("no_hashtag_scores", "the split", "no photo has a vocabulary tag")
        return {}
    truth = [set(p.hashtags) for p in posts]
    out = {}
    for name in HASHTAG_MODELS:
        source = name.removeprefix("captions->tags ")
        if name in ranked:
            out[name] = ranking_metrics(ranked[name], truth, KS)
        elif source in sources and sources[source] is not None:
            out[name] = evaluate_caption_hashtags(
                posts, sources[source], k=HASHTAGS_K, ks=KS, vocab=set(vocab)
            )
        elif source in sources:
            missing.setdefault(name, missing.get(source, f"no {source} captions"))
    return out


def _samples(posts, captions: dict, ranked: dict, vocab) -> list[dict]:
    """The first photos with their generated caption and hashtags (metrics.json `samples`)."""
    served = dict(zip([p.id for p in posts], ranked.get(HASHTAG_MODELS[0], []), strict=False))
    return [
        {
            "id": p.id,
            "reference": p.text,
            "caption": captions.get(p.id),
            "hashtags": served[p.id][:5] if p.id in served else None,
            "caption_hashtags": captions_to_hashtags(captions[p.id], 5, vocab=set(vocab))
            if p.id in captions
            else None,
            "true_hashtags": p.hashtags,
        }
        for p in posts[:N_SAMPLES]
    ]


# -- the evaluation ----------------------------------------------------------------------------
def evaluate_flickr8k(
    run_dir: str | Path,
    split: str,
    *,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    images_dir: str | Path | None = None,
    limit: int | None = None,
    beam: int = DEFAULT_BEAM,
    length_penalty: float | None = None,
    verbose: bool = True,
) -> dict:
    """Evaluate a finished Flickr8k run on a split's photos; write and return metrics.json.

    Args:
        run_dir: the run directory (`outputs/<run>`), notebooks 01-04 finished (a missing
            02-04 model is reported under `missing`).
        split: "test" or "dev" (Flickr8k's lists).
        data_dir: the Flickr8k folder (token file, lists, photos); default run.json's data_dir.
        out_dir: where metrics.json and the feature cache go; default
            `<run_dir>/evaluate_flickr8k/<split>/`.
        images_dir: the photos' folder when not inside `data_dir`.
        limit: evaluate the first N photos present (None or 0: all).
        beam: beam width of the caption decoders and of the tag decoder (1: greedy only).
        length_penalty: the caption beam's final choice, `sum / words**length_penalty`
            (`decode_captions`); None: the run's (notebook 04's LENGTH_PENALTY).
        verbose: print progress and the table.

    Raises:
        EvaluationError: user errors (one line each): bad split, folder, run, encoder.
    """
    say = print if verbose else (lambda *a, **kw: None)
    t0 = time.perf_counter()
    if split == "val":
        split = "dev"
    if split not in SPLITS:
        raise EvaluationError(f"--split must be one of {sorted(SPLITS)}, got {split!r}")
    if int(beam) != beam or not 1 <= beam <= MAX_BEAM_WIDTH:
        raise EvaluationError(
            f"--beam must be a whole number from 1 to {MAX_BEAM_WIDTH}, got {beam!r}"
        )
    # checked here, not only by decode_captions, so that a typo fails before the features
    if length_penalty is not None and not (math.isfinite(length_penalty) and length_penalty >= 0):
        raise EvaluationError(f"--length-penalty must be a number >= 0, got {length_penalty!r}")
    if limit is not None and limit < 0:
        raise EvaluationError(f"--limit must be 0 (all) or a positive number, got {limit}")
    rd = RunDir(Path(run_dir).resolve())
    meta, loader_options = _run_info(rd)
    if data_dir is None:
        data_dir = meta.get("data_dir")
        if not data_dir:
            raise EvaluationError(f"{rd.meta_path} records no data_dir: pass --data-dir")
    out_dir = Path(out_dir) if out_dir is not None else rd.path / STAGE / split
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise EvaluationError(f"--out {out_dir}: {folder} is a file, not a folder")
    vocab, train_split, train_posts = _run_posts(rd)
    max_length, max_length_from = _recorded(
        rd, CAPTION, ("caption_training", "max_caption_length"), DEFAULT_MAX_CAPTION_LENGTH
    )
    att_len, att_len_from = _recorded(rd, ATTENTION, ("max_len",), DEFAULT_ATTENTION_MAX_LEN)
    if length_penalty is None:
        length_penalty, penalty_from = _recorded(
            rd, CAPTION, ("length_penalty",), DEFAULT_LENGTH_PENALTY, kind=float
        )
    else:
        penalty_from = "--length-penalty"
    report = RunReport()

    posts, counts, images_dir = load_split_posts(
        data_dir,
        split,
        vocab,
        report,
        loader_options=loader_options,
        images_dir=images_dir,
        limit=limit or None,
    )
    overlap = {p.id for p in train_posts} & {p.id for p in posts}
    say(
        f"flickr8k {split}: {len(posts)} photos of {counts['n_listed']} listed "
        f"({counts['photo_missing']} missing, {counts['unreadable_photo']} unreadable); run "
        f"{rd.path.name}, {len(vocab)} tags"
    )
    warnings: list[str] = []
    if overlap:
        warnings.append(f"{len(overlap)} of these photos are training photos of the run")
    encoders = run_encoders(meta, warnings)
    for w in warnings:
        say(f"warning: {w}")
    say("features ...")
    image_fs, text_fs = (
        extract_features(
            out_dir / "cache", posts, kind, encoders[kind], grid=grid, report=report, progress=False
        )
        for kind, grid in (("image", True), ("text", False))
    )
    unreadable = [p.id for p, ok in zip(posts, image_fs.mask, strict=True) if not ok]
    if unreadable:  # the encoder could not read them: counted, left out of every score
        counts["unreadable_photo"] += len(unreadable)
        drop = set(unreadable)
        posts = [p for p in posts if p.id not in drop]
        if not posts:
            raise EvaluationError(f"none of the {split} photos in {images_dir} could be read")
        ids = [p.id for p in posts]
        image_fs, text_fs = image_fs.take(ids), text_fs.take(ids)
    counts["no_tag_in_vocab"] = sum(1 for p in posts if not p.hashtags)
    missing: dict[str, str] = {}

    say("captions ...")
    captions, decoded = score_captions(
        rd, posts, image_fs, train_posts, beam, max_length, missing, report, length_penalty
    )
    say("hashtags ...")
    ranked = {
        **encoder_decoder_rankings(rd, posts, image_fs, text_fs, beam, missing, report),
        **attention_rankings(rd, posts, image_fs, vocab, att_len, missing),
        **baseline_rankings(rd, train_posts, posts, image_fs, vocab, missing, report),
    }
    sources = {name: decoded.get(_decoded_name(name, beam)) for name in CAPTION_DECODERS}
    sources[MOST_FREQUENT] = decoded.get(MOST_FREQUENT)
    sources[HUMAN_CAPTION] = {p.id: [p.text] for p in posts}
    hashtags = score_hashtags(posts, ranked, sources, vocab, missing, report)
    samples = _samples(
        posts, decoded.get(_decoded_name("show-attend-tell", beam), {}), ranked, vocab
    )
    counts["in_run_training"] = len(overlap)
    n_listed = counts.pop("n_listed")
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "evaluation": "flickr8k",
        "run": str(rd.path),
        "run_info": {
            "dataset": meta.get("dataset"),
            "run_mode": meta.get("run_mode"),
            "seed": meta.get("seed"),
            "official_test_part": meta.get("official_test_part"),
            "train_split": train_split,
            "n_train_posts": len(train_posts),
        },
        "split": split,
        "data_dir": str(Path(data_dir).resolve()),
        "images_dir": str(images_dir.resolve()) if images_dir is not None else None,
        "n_listed": n_listed,
        "n_photos": len(posts),
        "n_hashtag_photos": sum(1 for p in posts if p.hashtags),
        "skipped": counts,
        "encoders": {"image": image_fs.encoder, "text": text_fs.encoder},
        "run_encoders": {kind: meta["encoders"][kind] for kind in ("image", "text")},
        "warnings": warnings,
        "settings": {
            "beam": int(beam),
            "length_penalty": float(length_penalty),
            "length_penalty_from": penalty_from,
            "k": HASHTAGS_K,
            "ks": list(KS),
            "n_neighbours": N_NEIGHBOURS,
            "max_caption_length": max_length,
            "max_caption_length_from": max_length_from,
            "attention_max_len": att_len,
            "attention_max_len_from": att_len_from,
            "loader_options": loader_options,
            "tag_source": loader_options.get("tags", "held_out"),
            "n_vocab_tags": len(vocab),
            "limit": limit or None,
        },
        "captions": captions,
        "hashtags": hashtags,
        "missing": dict(sorted(missing.items())),
        "samples": samples,
        "report": report.to_dict(),
        "seconds": round(time.perf_counter() - t0, 1),
        "environment": environment(),
    }
    path = write_json(out_dir / "metrics.json", metrics)
    say(format_table(metrics))
    say(f"wrote {path} ({metrics['seconds']} s)")
    return metrics


def format_table(metrics: dict, k: int = 5) -> str:
    """The compact table printed after an evaluation (captions, hashtags at K, missing)."""
    skipped = ", ".join(f"{n} {kind}" for kind, n in metrics["skipped"].items() if n)
    lines = [
        f"Flickr8k {metrics['split']}: {metrics['n_photos']} photos "
        f"({metrics['n_hashtag_photos']} with a vocabulary tag){'; ' + skipped if skipped else ''}"
    ]
    if metrics["captions"]:
        lines.append(
            f"{'captions':<37} {'BLEU-1':>7} {'BLEU-4':>7} {'METEOR':>7} "
            f"{'ROUGE-L':>7} {'CIDEr':>7}"
        )
        for name, s in metrics["captions"].items():
            vals = [s[m] for m in ("bleu1", "bleu4", "meteor", "rouge_l", "cider")]
            cells = " ".join(f"{'-' if v is None else f'{v:.3f}':>7}" for v in vals)
            lines.append(f"{name:<37} {cells}")
    if metrics["hashtags"]:
        lines.append(
            f"{'hashtags':<37} {f'Hit@{k}':>7} {f'P@{k}':>7} {f'R@{k}':>7} {f'F1@{k}':>7} "
            f"{'MRR':>7}"
        )
        for name, r in metrics["hashtags"].items():
            vals = [r[m][str(k)] for m in ("hit_rate", "precision", "recall", "f1")]
            cells = " ".join(f"{v:>7.3f}" for v in [*vals, r["mrr"]])
            lines.append(f"{name:<37} {cells}")
    for name, why in metrics["missing"].items():
        lines.append(f"missing: {name}: {why}")
    return "\n".join(lines)
