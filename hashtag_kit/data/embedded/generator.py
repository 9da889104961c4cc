"""Generation and reuse of the embedded dataset (see `hashtag_kit.data.embedded`).

`generate(out_dir)` draws users and posts from the tables of `tags`, renders each picture with
`scenes` and writes the manifest, pictures and datasheet; `ensure()` reuses a folder made by
the same generator version, seed and size, or generates it; `load_embedded` reads it as posts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from hashtag_kit.data.embedded import scenes
from hashtag_kit.data.embedded.tags import (
    BANNED_TEXT_WORDS,
    BOTH_TAGS,
    CITY_TAGS,
    EMOJI,
    FILLER,
    GENERIC_TAGS,
    IMAGE_TAGS,
    KINDS,
    NAMES,
    PETS,
    RATES,
    SCENE_TAG,
    STYLE_TAGS,
    SUFFIXES,
    SYLLABLES,
    TAG_KINDS,
    TEXT_TAGS,
    TEXT_TOPIC_SCENES,
)
from hashtag_kit.data.posts import Post, write_posts
from hashtag_kit.data.posts_file import load_posts
from hashtag_kit.files import BAD_JSON, write_json
from hashtag_kit.report import RunReport

#: bumped whenever the generated data would change for the same seed and size
GENERATOR_VERSION = 3  # 3: caption topics more common on some scenes; 2: JPEG at 256 px; 1: PNG
GENERATOR = "hashtag_kit.data.embedded"
DEFAULT_N_POSTS = 1200
MIN_N_POSTS = 20  # the smallest dataset `generate` makes
#: pictures are JPEG, as the photos of the real datasets are, at 256 px: the encoders' ImageNet
#: evaluation crop (87.5% of the side) is then exactly 224 px, EfficientNet-Lite0's input
IMAGE_SIZE = 256
IMAGE_FORMAT = ("JPEG", "jpg", 95)  # Pillow format, file suffix, quality
DATASHEET = "datasheet.json"
MANIFEST = "posts.jsonl"
IMAGES = "images"


def default_n_users(n_posts: int) -> int:
    """Users for a dataset of `n_posts`: 1.6·sqrt(N), between 8 and 80 (1,200 -> 55, 400 -> 32)."""
    return int(max(8, min(80, round(1.6 * np.sqrt(n_posts)))))


def _make_users(rng: np.random.Generator, n_users: int, n_posts: int) -> list[dict]:
    scenes_ = list(RATES["scene_popularity"])
    base = np.array(list(RATES["scene_popularity"].values()))
    weights = 1.0 / np.arange(1, n_users + 1) ** RATES["user_zipf_exponent"]
    floor = min(RATES["min_posts_per_user"], n_posts // n_users)
    counts = floor + rng.multinomial(n_posts - floor * n_users, weights / weights.sum())
    names = list(rng.permutation(NAMES))
    users = []
    for u in range(n_users):
        name = names[u % len(names)] + ("" if u < len(names) else str(u // len(names)))
        if rng.random() < 0.7:
            personal = f"{name}_{SUFFIXES[int(rng.integers(len(SUFFIXES)))]}"
        else:
            personal = f"{name}s_{PETS[int(rng.integers(len(PETS)))]}"
        sig = {personal: float(rng.uniform(0.7, 0.95))}
        if rng.random() < 0.5:
            sig[CITY_TAGS[int(rng.integers(len(CITY_TAGS)))]] = float(rng.uniform(0.5, 0.8))
        if rng.random() < 0.35:
            sig[STYLE_TAGS[int(rng.integers(len(STYLE_TAGS)))]] = float(rng.uniform(0.4, 0.7))
        mix = 0.7 * rng.dirichlet(np.full(len(scenes_), 0.7)) + 0.3 * base
        users.append(
            {
                "id": f"u{u:03d}",
                "n_posts": int(counts[u]),
                "signature": sig,
                "scene_mix": dict(zip(scenes_, mix.round(4).tolist(), strict=True)),
                "generic_taste": float(rng.lognormal(0, 0.5)),
            }
        )
    return users


def _noise_pool(rng: np.random.Generator, size: int) -> list[str]:
    taken = set(TAG_KINDS)
    pool: list[str] = []
    while len(pool) < size:
        n = int(rng.integers(2, 4))
        word = "".join(SYLLABLES[int(i)] for i in rng.integers(len(SYLLABLES), size=n))
        if word not in taken:
            taken.add(word)
            pool.append(word)
    return pool


def _compose_text(rng: np.random.Generator, topics: list[str]) -> str:
    """A short social-media caption made of one phrase per topic plus filler (no hashtags)."""
    phrases = []
    for t in topics:
        options = TEXT_TAGS[t] if t in TEXT_TAGS else BOTH_TAGS[t][2]
        phrases.append(options[int(rng.integers(len(options)))])
    if not phrases or rng.random() < 0.5:
        phrases.insert(int(rng.integers(len(phrases) + 1)), FILLER[int(rng.integers(len(FILLER)))])
    sep = (". ", ", ", " ", "! ")[int(rng.integers(4))]
    text = sep.join(phrases)
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]
    text += ("", "!", "!!", "...", ".")[int(rng.integers(5))]
    if rng.random() < 0.3:
        text += " " + EMOJI[int(rng.integers(len(EMOJI)))]
    return text


def _post(i: int, seed: int, user: dict, noise: list[str]):
    """Sample one post's content: (Post, SceneSpec to render or None when it has no picture)."""
    rng = np.random.default_rng([seed, i, 0])
    mix = user["scene_mix"]
    scene = list(mix)[int(rng.choice(len(mix), p=np.array(list(mix.values())) / sum(mix.values())))]
    tod = RATES["time_of_day"]
    time_ = list(tod)[int(rng.choice(len(tod), p=list(tod.values())))]
    force = ("surfer",) if scene == "beach" and rng.random() < RATES["p_surfer_on_beach"] else ()
    spec = scenes.sample_scene(rng, scene, time_, force=force, p_object={"surfer": 0.0})

    on_scene = {t: scene in TEXT_TOPIC_SCENES[t] for t in TEXT_TAGS}
    text_topics = [
        t
        for t in TEXT_TAGS
        if rng.random()
        < RATES["p_text_topic_on_scene" if on_scene[t] else "p_text_topic_elsewhere"]
    ]
    both_topics = [t for t in BOTH_TAGS if rng.random() < RATES["p_both_topic"]]
    has_image = rng.random() >= RATES["p_no_image"]
    r = rng.random()
    text_state = (
        "none"
        if r < RATES["p_no_text"]
        else "blank"
        if r < RATES["p_no_text"] + RATES["p_blank_text"]
        else "text"
    )
    if not has_image and text_state != "text":
        has_image = True  # every post shows at least one modality
    # a caption that is missing carries no topic: the user did not write it
    if text_state != "text":
        text_topics, both_topics = [], []

    tags: list[str] = []
    if rng.random() < RATES["p_image_tag"]:
        tags.append(SCENE_TAG[scene])
    if time_ in ("sunset", "night") and rng.random() < RATES["p_time_tag"]:
        tags.append(time_)
    if spec.has("dog") and rng.random() < RATES["p_dog_tag"]:
        tags.append("dog")
    tags += [t for t in text_topics if rng.random() < RATES["p_text_tag"]]
    picture_ok = {
        "surfing": scene == "beach" and spec.has("surfer"),
        "goldenhour": time_ == "sunset",
        "hiking": scene == "mountain",
    }
    tags += [t for t in both_topics if picture_ok[t] and rng.random() < RATES["p_both_tag"]]
    tags += [t for t, p in user["signature"].items() if rng.random() < p]
    taste = user["generic_taste"]
    tags += [t for t, p in GENERIC_TAGS.items() if rng.random() < min(0.9, p * taste)]
    if rng.random() < RATES["p_noise_tag"]:
        tags.append(noise[int(rng.integers(len(noise)))])
        if rng.random() < 0.5 * RATES["p_noise_tag"]:
            tags.append(noise[int(rng.integers(len(noise)))])
    tags = list(dict.fromkeys(tags))
    tags = [tags[j] for j in rng.permutation(len(tags))]

    if text_state == "text":
        text = _compose_text(rng, text_topics + both_topics)
    elif text_state == "blank":
        text = (" ", "   ", "\n", " \t ")[int(rng.integers(4))]
    else:
        text = None

    captions: list[str] = []
    paragraph = None
    if has_image:
        captions, paragraph = scenes.describe_scene(spec, np.random.default_rng([seed, i, 2]))
    post = Post(
        id=f"p{i:05d}",
        hashtags=tags,
        user=user["id"],
        image=f"{IMAGES}/p{i:05d}.{IMAGE_FORMAT[1]}" if has_image else None,
        text=text,
        captions=captions,
        paragraph=paragraph,
        meta={
            "scene": scene,
            "time": time_,
            "objects": spec.object_names(),
            "topics": text_topics + both_topics,
            "generator": f"{GENERATOR} v{GENERATOR_VERSION}",
        },
    )
    return post, spec if has_image else None


def generate(
    out_dir: str | Path,
    n_posts: int = DEFAULT_N_POSTS,
    seed: int = 0,
    image_size: int = IMAGE_SIZE,
    *,
    n_users: int | None = None,
    progress: bool = False,
) -> Path:
    """Generate the embedded dataset into `out_dir` (created; our files in it are replaced).

    Args:
        out_dir: the folder to write `posts.jsonl`, `images/` and `datasheet.json` into.
        n_posts: number of posts (>= 20).
        seed: everything is decided by it: same seed, size and version give byte-identical
            files.
        image_size: side of the square JPEG pictures.
        n_users: number of users (default `default_n_users(n_posts)`).
        progress: print a line every 200 posts.

    Returns:
        `out_dir` as a Path.
    """
    if n_posts < MIN_N_POSTS:
        raise ValueError(
            f"n_posts={n_posts}: the embedded dataset needs at least {MIN_N_POSTS} posts"
        )
    out = Path(out_dir)
    img_dir = out / IMAGES
    img_dir.mkdir(parents=True, exist_ok=True)
    for old in img_dir.glob("p*.*"):  # only our own file names
        if re.fullmatch(r"p\d{5}\.(png|jpg)", old.name):
            old.unlink()
    t0 = time.perf_counter()
    master = np.random.default_rng([seed, 10**6])
    n_users = n_users or default_n_users(n_posts)
    users = _make_users(master, n_users, n_posts)
    noise = _noise_pool(master, max(200, 2 * n_posts))
    owner = np.concatenate([np.full(u["n_posts"], k) for k, u in enumerate(users)])
    owner = master.permutation(owner)

    posts: list[Post] = []
    specs = {}
    for i in range(n_posts):
        post, spec = _post(i, seed, users[int(owner[i])], noise)
        posts.append(post)
        if spec is not None:
            pixels = scenes.render_scene(spec, np.random.default_rng([seed, i, 1]), image_size)
            fmt, _, quality = IMAGE_FORMAT
            Image.fromarray(pixels, "RGB").save(out / post.image, format=fmt, quality=quality)
            specs[post.id] = spec
        if progress and (i + 1) % 200 == 0:
            print(f"  {i + 1}/{n_posts} posts ({time.perf_counter() - t0:.1f} s)", flush=True)

    bad = _plant_bad_records(master, posts, out)
    write_posts(out / MANIFEST, posts)
    sheet = _datasheet(posts, users, noise, bad, seed, n_posts, image_size)
    sheet["generation_seconds"] = round(time.perf_counter() - t0, 1)
    write_json(out / DATASHEET, sheet)
    return out


def _plant_bad_records(rng: np.random.Generator, posts: list[Post], out: Path) -> list[dict]:
    """One corrupt image file and one empty reference caption, at seeded positions."""
    with_image = [p for p in posts if p.image]
    a, b = (with_image[int(j)] for j in rng.choice(len(with_image), size=2, replace=False))
    path = out / a.image
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a truncated JPEG: the header, a third of the pixels
    k = int(rng.integers(len(b.captions)))
    b.captions[k] = ""
    return [
        {
            "kind": "corrupt_image",
            "id": a.id,
            "file": a.image,
            "detail": "JPEG truncated to a third of its bytes: the header reads, the pixels do not",
        },
        {
            "kind": "empty_caption",
            "id": b.id,
            "caption_index": k,
            "detail": "one of the 5 reference captions is the empty string",
        },
    ]


def _datasheet(posts, users, noise, bad, seed, n_posts, image_size) -> dict:
    counts = Counter(t for p in posts for t in p.hashtags)
    kinds = dict(TAG_KINDS)
    for u in users:
        for t in u["signature"]:
            kinds.setdefault(t, "user")
    noise_set = set(noise)
    used_kinds = {t: kinds.get(t, "noise" if t in noise_set else "unknown") for t in counts}
    by_kind = {
        k: {
            "n_tags": sum(1 for t in used_kinds if used_kinds[t] == k),
            "occurrences": sum(c for t, c in counts.items() if used_kinds[t] == k),
        }
        for k in KINDS
    }
    n_image = sum(1 for p in posts if p.image)
    text_none = sum(1 for p in posts if p.text is None)
    text_blank = sum(1 for p in posts if p.text is not None and not p.text.strip())
    return {
        "name": "hashtag_kit embedded default dataset",
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "n_posts": n_posts,
        "image_size": image_size,
        "license": "CC0-1.0: generated data, no rights reserved",
        "counts": {
            "posts": len(posts),
            "users": len(users),
            "with_image": n_image,
            "without_image": len(posts) - n_image,
            "with_text": len(posts) - text_none - text_blank,
            "text_none": text_none,
            "text_blank": text_blank,
            "without_hashtags": sum(1 for p in posts if not p.hashtags),
            "reference_captions": sum(len(p.captions) for p in posts),
            "paragraphs": sum(1 for p in posts if p.paragraph),
            "distinct_tags": len(counts),
            "tag_occurrences": sum(counts.values()),
            "singleton_tags": sum(1 for c in counts.values() if c == 1),
        },
        "bad_records": bad,
        "expected_report": {r["kind"]: 1 for r in bad},
        "tag_kinds": dict(sorted(used_kinds.items())),
        "tag_counts": dict(counts.most_common()),
        "kinds_summary": by_kind,
        "signals": {
            "image": IMAGE_TAGS,
            "text": {
                t: "caption topic: "
                + "; ".join(v[:2])
                + f" (more common on {' and '.join(TEXT_TOPIC_SCENES[t])} pictures)"
                for t, v in TEXT_TAGS.items()
            },
            "both": {t: f"{v[0]} AND caption topic '{v[1]}'" for t, v in BOTH_TAGS.items()},
            "generic": GENERIC_TAGS,
            "user": "1-3 signature tags per user (see users), used on most of their posts",
            "noise": f"random pseudo-words from a pool of {len(noise)}, mostly used once",
        },
        "banned_text_words": sorted(BANNED_TEXT_WORDS),
        "rates": RATES,
        "users": {
            u["id"]: {
                "n_posts": u["n_posts"],
                "signature": {t: round(p, 3) for t, p in u["signature"].items()},
                "scene_mix": u["scene_mix"],
                "generic_taste": round(u["generic_taste"], 3),
            }
            for u in users
        },
        "environment": {"numpy": np.__version__, "pillow": Image.__version__},
    }


def default_root() -> Path:
    """`<repo>/data/embedded` in a source checkout, else `~/.cache/hashtag_kit/embedded`."""
    repo = Path(__file__).resolve().parents[3]  # the checkout holding hashtag_kit/
    if (repo / "pyproject.toml").exists() and os.access(repo, os.W_OK):
        return repo / "data" / "embedded"
    return Path.home() / ".cache" / "hashtag_kit" / "embedded"


def load_datasheet(folder: str | Path) -> dict:
    """The `datasheet.json` of a generated folder (FileNotFoundError naming it if absent)."""
    path = Path(folder) / DATASHEET
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: not an embedded dataset folder (generate one with "
            "hashtag_kit.data.embedded.ensure() or `python -m hashtag_kit.data.embedded`)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _matches(folder: Path, n_posts: int, seed: int) -> bool:
    try:
        sheet = load_datasheet(folder)
    except (FileNotFoundError, *BAD_JSON):
        return False
    want = {"generator": GENERATOR, "version": GENERATOR_VERSION, "seed": seed, "n_posts": n_posts}
    return all(sheet.get(k) == v for k, v in want.items()) and (folder / MANIFEST).exists()


def ensure(
    data_dir: str | Path | None = None, n_posts: int = DEFAULT_N_POSTS, seed: int = 0
) -> Path:
    """A folder holding the embedded dataset for (`n_posts`, `seed`), generated if needed.

    Args:
        data_dir: the dataset folder itself. None: `default_root()/n<N>-s<seed>`
            (`data/embedded/n1200-s0` in a checkout; gitignored).
        n_posts: number of posts.
        seed: generator seed.

    The folder is reused when its datasheet's (generator, `GENERATOR_VERSION`, seed, n_posts) match,
    and regenerated otherwise: bump `GENERATOR_VERSION` with any change to the generated data.
    Generation writes a temporary sibling folder and renames it into place, so a concurrent reader
    never sees a half-written dataset. A folder that exists but is not an embedded dataset (no
    datasheet, not empty) is never overwritten: ValueError.
    """
    folder = Path(data_dir) if data_dir is not None else default_root() / f"n{n_posts}-s{seed}"
    if _matches(folder, n_posts, seed):
        return folder
    if folder.exists() and any(folder.iterdir()) and not (folder / DATASHEET).exists():
        raise ValueError(
            f"{folder} exists and is not an embedded dataset folder (no {DATASHEET}); "
            "pass an empty or new folder, or None for the default location"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate(tmp, n_posts=n_posts, seed=seed)
        if _matches(folder, n_posts, seed):  # another process finished first
            return folder
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            folder.rename(old)
        try:
            tmp.rename(folder)
        except OSError:
            if not _matches(folder, n_posts, seed):
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def tag_kinds(folder: str | Path | None = None) -> dict[str, str]:
    """Kind of each tag (image / text / both / user / generic / noise).

    Without `folder`, the designed tags (`TAG_KINDS`); with a generated folder, every tag used
    there, including its users' personal tags and the noise tags.
    """
    if folder is None:
        return dict(TAG_KINDS)
    return dict(load_datasheet(folder)["tag_kinds"])


def describe(folder: str | Path) -> str:
    """One line about a generated folder: counts and the deliberately bad records."""
    sheet = load_datasheet(folder)
    c = sheet["counts"]
    return (
        f"{folder}: {c['posts']} posts, {c['users']} users, {c['with_image']} pictures, "
        f"{c['distinct_tags']} distinct tags; bad records: "
        + ", ".join(f"{r['kind']} {r['id']}" for r in sheet["bad_records"])
    )


def load_embedded(
    data_dir: str | Path | None,
    report: RunReport,
    *,
    limit: int | None = None,
    n_posts: int | None = None,
    seed: int = 0,
    **options,
) -> list[Post]:
    """The embedded default dataset: generated on first use (`hashtag_kit.data.embedded.ensure`),
    then read with `load_posts` (its image paths are relative to its folder).

    Args:
        data_dir: where it lives / is generated; None for the package default folder.
        n_posts, seed: generator settings (the generator's default size when `n_posts` is None).
        options: passed on to `load_posts` (e.g. `require_hashtags`).
    """
    folder = ensure(data_dir, DEFAULT_N_POSTS if n_posts is None else n_posts, seed)
    return load_posts(folder / MANIFEST, report, limit=limit, **options)
