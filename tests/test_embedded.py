"""The embedded dataset: deterministic, complete, and carrying the signals its datasheet claims.

The signal tests train small scikit-learn probes on cheap features (downsampled pixels, hue
histogram and edge texture for pictures; bag of words for captions) and check that each kind
of tag is predictable from the modality that decides it and not from the other one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashtag_kit.data.embedded import generator as E
from hashtag_kit.data.embedded import scenes
from hashtag_kit.data.embedded import tags as T
from hashtag_kit.data.posts import read_posts
from tools import embedded_datasheet as D

N_POSTS = 300


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return E.generate(tmp_path_factory.mktemp("embedded") / "data", n_posts=N_POSTS, seed=0)


@pytest.fixture(scope="module")
def posts(folder):
    return read_posts(folder / "posts.jsonl")


@pytest.fixture(scope="module")
def sheet(folder):
    return E.load_datasheet(folder)


def _digest(folder: Path) -> dict[str, str]:
    files = [folder / "posts.jsonl", *sorted((folder / "images").glob("*.jpg"))]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


# -- features for the probes ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def probe_data(folder, posts):
    """Posts having both a readable picture and text, with image and bag-of-words features."""
    from sklearn.feature_extraction.text import CountVectorizer

    rows, feats = [], []
    for p in posts:
        if p.image and p.has_text:
            f = D.cheap_image_features(folder / p.image)
            if f is not None:
                rows.append(p)
                feats.append(f)
    words = CountVectorizer(binary=True).fit_transform([p.text for p in rows])
    return rows, np.stack(feats), words


def _auc(x, y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    clf = LogisticRegression(max_iter=2000, C=1.0)
    prob = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, prob))


# -- determinism and reuse -----------------------------------------------------------------------
def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    a = E.generate(tmp_path / "a", n_posts=40, seed=3)
    b = E.generate(tmp_path / "b", n_posts=40, seed=3)
    c = E.generate(tmp_path / "c", n_posts=40, seed=4)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert len(da) > 30  # the manifest and the pictures
    assert da == db
    assert da["posts.jsonl"] != dc["posts.jsonl"]
    shared = set(da) & set(dc) - {"posts.jsonl"}
    assert sum(da[k] != dc[k] for k in shared) > 0.9 * len(shared)


def test_ensure_generates_once_and_regenerates_on_mismatch(tmp_path):
    folder = tmp_path / "emb"
    got = E.ensure(folder, n_posts=25, seed=0)
    assert got == folder and (folder / "posts.jsonl").exists()
    stamp = (folder / "datasheet.json").stat().st_mtime_ns
    assert E.ensure(folder, n_posts=25, seed=0) == folder
    assert (folder / "datasheet.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    E.ensure(folder, n_posts=25, seed=1)
    assert E.load_datasheet(folder)["seed"] == 1
    assert len(read_posts(folder / "posts.jsonl")) == 25
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_ensure_refuses_to_overwrite_a_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an embedded dataset folder"):
        E.ensure(tmp_path, n_posts=25)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_too_small_request_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least 20 posts"):
        E.generate(tmp_path, n_posts=5)


# -- counts, files, modalities -------------------------------------------------------------------
def test_counts_match_the_manifest_and_modalities_are_covered(folder, posts, sheet):
    c = sheet["counts"]
    assert c["posts"] == len(posts) == N_POSTS
    assert len({p.id for p in posts}) == N_POSTS
    with_image = [p for p in posts if p.image]
    assert c["with_image"] == len(with_image)
    assert len(list((folder / "images").glob("*.jpg"))) == len(with_image)
    no_text = [p for p in posts if not p.has_text]
    assert c["text_none"] + c["text_blank"] == len(no_text)
    assert c["text_blank"] >= 1 and all(p.text is None or not p.text.strip() for p in no_text)
    assert 0.07 <= len(no_text) / N_POSTS <= 0.20
    assert 0.02 <= (N_POSTS - len(with_image)) / N_POSTS <= 0.12
    assert all(p.image or p.has_text for p in posts)  # never neither modality
    assert all(p.user for p in posts)
    assert sheet["seed"] == 0 and sheet["version"] == E.GENERATOR_VERSION
    assert E.default_n_users(N_POSTS) == c["users"] == len({p.user for p in posts})


def test_images_are_relative_paths_to_256_rgb_jpegs(folder, posts, sheet):
    corrupt = sheet["bad_records"][0]["id"]
    for p in posts:
        if p.image:
            assert not Path(p.image).is_absolute() and p.image.startswith("images/")
    readable = 0
    for p in posts[:40]:
        if p.image and p.id != corrupt:
            with Image.open(folder / p.image) as im:
                im.load()
                assert im.size == (256, 256) and im.mode == "RGB" and im.format == "JPEG"
                readable += 1
    assert readable >= 30


def test_bad_records_are_exactly_as_documented(folder, posts, sheet):
    bad = {r["kind"]: r for r in sheet["bad_records"]}
    assert set(bad) == {"corrupt_image", "empty_caption"}
    assert sheet["expected_report"] == {"corrupt_image": 1, "empty_caption": 1}
    unreadable = []
    for p in posts:
        if p.image:
            try:
                with Image.open(folder / p.image) as im:
                    im.load()
            except OSError:
                unreadable.append(p.id)
    assert unreadable == [bad["corrupt_image"]["id"]]
    empty = [(p.id, i) for p in posts for i, c in enumerate(p.captions) if not c.strip()]
    assert empty == [(bad["empty_caption"]["id"], bad["empty_caption"]["caption_index"])]


def test_every_picture_has_five_captions_and_a_paragraph_describing_it(posts):
    for p in posts:
        if not p.image:
            assert p.captions == [] and p.paragraph is None
            continue
        assert len(p.captions) == 5 and len(set(p.captions)) == 5
        assert all(len(c.split()) <= 16 for c in p.captions)
        n_sentences = p.paragraph.count(". ") + 1
        assert 3 <= n_sentences <= 5, p.paragraph
        # the words match the pixels: the paragraph names the scene and the light
        assert any(s in p.paragraph for s in scenes._SCENE_NP[p.meta["scene"]])
        assert any(t in p.paragraph for t in scenes._TIME_PP[p.meta["time"]])
    # every drawn object is named, in the paragraph and in a caption
    nouns = {"boat": "boat", "surfer": "surf", "person": "person", "dog": "dog", "kite": "kite"}
    nouns.update({"birds": "bird", "car": "car", "snowman": "snowman"})
    for p in posts:
        for obj in p.meta["objects"] if p.image else []:
            word = nouns[obj]
            assert word in p.paragraph or (obj == "dog" and "pupp" in p.paragraph), (p.id, obj)
            assert any(word in c or (obj == "dog" and "pupp" in c) for c in p.captions), (p.id, obj)


def test_post_text_never_names_an_image_only_tag_nor_carries_hashtags(posts):
    banned = set(T.BANNED_TEXT_WORDS) | set(T.IMAGE_TAGS)
    for p in posts:
        if p.has_text:
            assert "#" not in p.text
            leaked = banned & set(_tokens(p.text))
            assert not leaked, f"post {p.id} text {p.text!r} names {leaked}"
    # and the phrase lists themselves (so a larger dataset cannot leak either)
    phrases = [s for v in T.TEXT_TAGS.values() for s in v]
    phrases += [s for v in T.BOTH_TAGS.values() for s in v[2]] + list(T.FILLER)
    assert not banned & {w for s in phrases for w in _tokens(s)}


# -- the signals ---------------------------------------------------------------------------------
def test_tags_fire_only_under_their_documented_conditions(posts):
    scene_of = {v: k for k, v in T.SCENE_TAG.items()}
    fired = Counter()
    for p in posts:
        m, tags = p.meta, set(p.hashtags)
        for t in tags & set(T.SCENE_TAG.values()):
            assert m["scene"] == scene_of[t], (p.id, t)
        for t in tags & {"sunset", "night"}:
            assert m["time"] == t, (p.id, t)
        if "dog" in tags:
            assert "dog" in m["objects"], p.id
        for t in tags & set(T.TEXT_TAGS):
            assert t in m["topics"] and any(s in p.text.lower() for s in T.TEXT_TAGS[t]), (p.id, t)
        if "surfing" in tags:
            assert m["scene"] == "beach" and "surfer" in m["objects"] and "surfing" in m["topics"]
        if "goldenhour" in tags:
            assert m["time"] == "sunset" and "goldenhour" in m["topics"]
        if "hiking" in tags:
            assert m["scene"] == "mountain" and "hiking" in m["topics"]
        fired.update(tags)
    # each 'both' tag needs both halves: half alone is common, the tag only with both
    picture_only = [
        p for p in posts if p.meta["time"] == "sunset" and "goldenhour" not in p.meta["topics"]
    ]
    text_only = [
        p for p in posts if p.meta["time"] != "sunset" and "goldenhour" in p.meta["topics"]
    ]
    assert len(picture_only) > 20 and len(text_only) > 20
    assert not any("goldenhour" in p.hashtags for p in picture_only + text_only)
    assert all(fired[t] >= 3 for t in T.BOTH_TAGS), fired


def test_image_only_tags_are_predictable_from_the_picture_not_the_caption(probe_data):
    rows, pixels, words = probe_data
    text_aucs = []
    for tag in ("beach", "city", "sunset", "snow"):
        y = np.array([tag in p.hashtags for p in rows])
        assert y.sum() >= 15, tag
        auc_image, auc_text = _auc(pixels, y), _auc(words, y)
        assert auc_image > 0.85, (tag, auc_image)
        # no word names the scene; the caption's topic only hints at it (TEXT_TOPIC_SCENES)
        assert auc_text < min(0.75, auc_image - 0.2), (tag, auc_text, auc_image)
        text_aucs.append(auc_text)
    assert np.mean(text_aucs) < 0.7, text_aucs


def test_text_only_tags_are_decided_by_the_caption_and_only_hinted_by_the_picture(probe_data):
    rows, pixels, words = probe_data
    image_aucs = []
    for tag in ("adventure", "foodie", "family"):
        y = np.array([tag in p.hashtags for p in rows])
        assert y.sum() >= 15, tag
        auc_image, auc_text = _auc(pixels, y), _auc(words, y)
        assert auc_text > 0.85, (tag, auc_text)
        assert auc_image < auc_text - 0.15, (tag, auc_image, auc_text)  # a hint, not the answer
        image_aucs.append(auc_image)
    assert np.mean(image_aucs) < 0.75, image_aucs


def test_caption_topics_are_more_common_on_their_scenes(posts):
    captioned = [p for p in posts if p.has_text]
    for tag, scenes_ in T.TEXT_TOPIC_SCENES.items():
        on = [tag in p.meta["topics"] for p in captioned if p.meta["scene"] in scenes_]
        off = [tag in p.meta["topics"] for p in captioned if p.meta["scene"] not in scenes_]
        assert len(on) >= 30 and len(off) >= 30, tag
        # documented rates 0.4 vs 0.08: the picture hints at the topic ...
        assert np.mean(on) > 2.5 * np.mean(off), (tag, np.mean(on), np.mean(off))
        # ... without deciding it: the tag is used on the other scenes too
        assert any(tag in p.hashtags for p in captioned if p.meta["scene"] not in scenes_), tag
    assert set(T.TEXT_TOPIC_SCENES) == set(T.TEXT_TAGS)
    assert {s for v in T.TEXT_TOPIC_SCENES.values() for s in v} <= set(T.RATES["scene_popularity"])


def test_user_signature_tags_are_predictable_from_the_user(posts, sheet):
    users = sorted({p.user for p in posts})
    onehot = np.array([[p.user == u for u in users] for p in posts], dtype=np.float32)
    top = sorted(sheet["users"].items(), key=lambda kv: -kv[1]["n_posts"])[:3]
    for uid, info in top:
        personal = next(iter(info["signature"]))  # the first signature tag is the personal one
        assert E.tag_kinds(None).get(personal) is None  # personal tags depend on the seed
        y = np.array([personal in p.hashtags for p in posts])
        mine = [p for p in posts if p.user == uid]
        assert sum(personal in p.hashtags for p in mine) >= 0.6 * len(mine)
        assert not any(personal in p.hashtags for p in posts if p.user != uid)
        assert _auc(onehot, y) > 0.9, (uid, personal)


def test_tag_frequencies_are_long_tailed_with_generic_head_and_noise_tail(posts, sheet):
    counts = Counter(t for p in posts for t in p.hashtags)
    kinds = sheet["tag_kinds"]
    assert set(counts) == set(kinds) and "unknown" not in kinds.values()
    assert set(kinds.values()) == set(T.KINDS)
    freq = np.array(sorted(counts.values(), reverse=True))
    head = freq[: max(1, len(freq) // 10)].sum() / freq.sum()
    assert head > 0.5, head  # the top 10% of tags carry most uses
    assert (freq == 1).mean() > 0.4  # and many tags are used once
    assert counts.most_common(1)[0][0] in T.GENERIC_TAGS
    noise = [c for t, c in counts.items() if kinds[t] == "noise"]
    assert len(noise) > 50 and max(noise) <= 3
    # the generic head is real but weak: no tag is on more than half the posts
    assert freq[0] < 0.5 * len(posts)


def test_tag_kinds_cover_the_designed_vocabulary(folder):
    assert {T.TAG_KINDS[t] for t in T.IMAGE_TAGS} == {"image"}
    assert {T.TAG_KINDS[t] for t in T.TEXT_TAGS} == {"text"}
    assert {T.TAG_KINDS[t] for t in T.BOTH_TAGS} == {"both"}
    assert {T.TAG_KINDS[t] for t in T.GENERIC_TAGS} == {"generic"}
    used = E.tag_kinds(folder)
    manifest = json.loads((folder / "datasheet.json").read_text())["tag_counts"]
    assert set(used) == set(manifest)


# -- the datasheet's generated section -----------------------------------------------------------
def test_readme_section_is_generated_from_the_data(folder, sheet, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n{D.README_START}\nstale\n{D.README_END}\nafter\n")
    probes = D.probe_signals(folder, tags=("beach", "adventure"))
    D.write_readme_section(readme, folder, probes)
    text = readme.read_text()
    assert "stale" not in text and text.endswith(f"{D.README_END}\nafter\n")
    assert f"| posts | {N_POSTS} |" in text
    assert f"post `{sheet['bad_records'][0]['id']}`" in text
    beach, adventure = probes["tags"]["beach"], probes["tags"]["adventure"]
    assert beach["image"] > 0.85 > beach["text"] and adventure["text"] > 0.85 > adventure["image"]
    personal = [t for t, r in probes["tags"].items() if r["kind"] == "user"]
    assert len(personal) == 3 and all(probes["tags"][t]["user"] > 0.9 for t in personal)
    with pytest.raises(ValueError, match="markers"):
        D.write_readme_section(folder / "datasheet.json", folder)


@pytest.mark.slow
def test_data_readme_counts_match_a_fresh_default_dataset(tmp_path):
    """data/README.md's generated numbers are those of today's generator (full size, ~20 s)."""
    readme = Path(__file__).resolve().parents[1] / "data" / "README.md"
    folder = E.generate(tmp_path / "d", n_posts=E.DEFAULT_N_POSTS, seed=0)
    fresh = D.datasheet_markdown(folder).splitlines()
    documented = readme.read_text(encoding="utf-8")
    missing = [line for line in fresh if line not in documented]
    assert not missing, (
        "data/README.md is stale: run python tools/embedded_datasheet.py --pretrained; "
        + (f"differs at {missing[:3]}")
    )


@pytest.mark.slow
def test_pretrained_features_see_the_image_signals(folder):
    """EfficientNet-Lite0 (ImageNet) features separate scenes, light and the dog; USE
    features carry the caption topics and only hint at the scenes (~1-2 min on 2 cores)."""
    probes = D.probe_signals(
        folder, tags=("beach", "snow", "sunset", "dog", "adventure", "tbt"), pretrained=True
    )["tags"]
    for tag in ("beach", "snow", "sunset"):
        assert probes[tag]["image_cnn"] > 0.9, (tag, probes[tag])
        # the caption's topic hints at the scene (TEXT_TOPIC_SCENES); no word names it
        assert probes[tag]["text_use"] < min(0.8, probes[tag]["image_cnn"] - 0.15), (tag, probes)
    assert probes["dog"]["image_cnn"] > 0.8, probes["dog"]
    for tag in ("adventure", "tbt"):
        assert probes[tag]["text_use"] > 0.85, probes[tag]
        assert probes[tag]["image_cnn"] < probes[tag]["text_use"] - 0.15, probes[tag]


def test_default_root_is_the_checkouts_data_folder():
    repo = Path(__file__).resolve().parent.parent
    assert E.default_root() == repo / "data" / "embedded"
