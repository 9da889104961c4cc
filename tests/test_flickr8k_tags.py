"""Flickr8k-tags: hashtags from the captions #1-#4 of a photo (hand-made captions, real file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hashtag_kit.data import load_dataset
from hashtag_kit.data.flickr8k import (
    flickr8k_tags,
    flickr8k_tags_datasheet,
    rank_caption_tags,
    tag_singulars,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport


def write_token_file(root: Path, photos: dict[str, list[str]], splits: dict[str, str]) -> Path:
    """A Flickr8k text release: `name#N<TAB>caption` lines and the three split lists."""
    root.mkdir(parents=True)
    lines = [f"{name}#{n}\t{cap}" for name, caps in photos.items() for n, cap in enumerate(caps)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    for part, fname in (("train", "train"), ("val", "dev"), ("test", "test")):
        names = [name for name, s in splits.items() if s == part]
        (root / f"Flickr_8k.{fname}Images.txt").write_text("".join(f"{n}\n" for n in names))
    return root


# -- the rule on hand-made captions -------------------------------------------------------------


def test_a_word_two_captions_use_is_a_tag_ranked_by_count_then_first_appearance():
    captions = [
        "A cat sits on a red sofa .",  # cat 1, sofa 1, red 1
        "The cat sleeps near a lamp .",  # cat 2, lamp 1
        "A red lamp and a cat .",  # cat 3, red 2, lamp 2
        "A sofa .",  # sofa 2
    ]
    # cat: 3 captions; then red, lamp, sofa (2 each) in order of first appearance
    assert flickr8k_tags(captions) == ["cat", "red", "sofa", "lamp"]
    assert flickr8k_tags(captions, min_captions=3) == ["cat"]
    assert flickr8k_tags(captions[:1]) == []  # one caption can never make a tag


def test_a_word_counts_once_per_caption():
    assert flickr8k_tags(["dog dog dog on a beach", "a beach", "a cat"]) == ["beach"]
    assert rank_caption_tags([["a", "a", "b"], ["b"], ["a"]]) == ["a", "b"]  # a: 2, b: 2


def test_stopwords_and_caption_filler_are_never_tags():
    captions = ["A picture of the dog on the beach", "The dog is on the beach in a photo"] * 2
    assert flickr8k_tags(captions) == ["dog", "beach"]


def test_plurals_merge_with_their_singular():
    # "dogs" and "dog" are one tag; "puppies" -> "puppy"; "horses" -> "horse" (the -es -> -e
    # fallback); "benches" -> "bench" (-ches -> -ch); "dresses" -> "dress"
    captions = [
        "Two dogs , puppies and horses near the benches ; dresses",
        "A dog , a puppy and a horse by a bench ; a dress",
    ]
    assert flickr8k_tags(captions) == ["dog", "puppy", "horse", "bench", "dress"]


def test_singulars_only_when_the_singular_is_a_word_of_the_corpus():
    words = ["dogs", "dog", "grass", "dress", "glass", "bus", "tennis", "jeans", "boxes", "box"]
    words += ["shorts", "short", "glasses", "woods", "wood", "ties", "tie", "watches", "watch"]
    words += ["men", "man", "children", "child", "people", "person", "hoodies", "hoodie"]
    assert tag_singulars(words) == {
        "boxes": "box",
        "children": "child",
        "dogs": "dog",
        "hoodies": "hoodie",
        "men": "man",
        "ties": "tie",
        "watches": "watch",
    }
    # -ss words are never cut (no "gras", "dres", "glas"); a plural whose singular the corpus
    # lacks stays as it is ("bus", not "bu"); plurals naming another thing are kept (KEEP_PLURAL)
    captions = ["grass dress glass bus tennis shorts glasses"] * 2 + ["a short wood"]
    assert flickr8k_tags(captions) == [
        "grass",
        "dress",
        "glass",
        "bus",
        "tennis",
        "shorts",
        "glasses",
    ]
    # the corpus decides: "cats" becomes "cat" only when "cat" is a word somewhere
    assert flickr8k_tags(["two cats", "cats"]) == ["cats"]
    assert flickr8k_tags(["two cats", "cats"], tag_singulars(["cats", "cat"])) == ["cat"]


# -- the loader ---------------------------------------------------------------------------------


PHOTOS = {
    "p.jpg": [
        "A surfer rides a huge wave .",  # #0: the post's text, never a tag source
        "A man on a surfboard in the ocean .",
        "Surfers ride the waves .",
        "A man surfs a wave in the ocean .",
        "A person on a board .",
    ],
    "q.jpg": [
        "A cat .",
        "A surfer and a cat .",
        "Cats on a sofa .",
        "A sofa .",
        "A cat sleeps .",
    ],
}


def test_loader_tags_come_from_captions_1_to_4(tmp_path):
    root = write_token_file(tmp_path / "f8k", PHOTOS, {"p.jpg": "train", "q.jpg": "val"})
    by_id = {p.id: p for p in load_dataset("flickr8k", root, RunReport())}
    p = by_id["p.jpg"]
    assert p.text == PHOTOS["p.jpg"][0]
    # man, ocean, wave: 2 of #1-#4 ("waves" counts as "wave"); "huge" (#0 only) and "surfer",
    # "ride" (#0 and one other: "surfers" -> "surfer", "rides" -> "ride") are not tags
    assert p.hashtags == ["man", "ocean", "wave"]
    assert by_id["q.jpg"].hashtags == ["cat", "sofa"]
    # all five captions: the caption #0 words used by one more caption become tags too
    every = {p.id: p.hashtags for p in load_dataset("flickr8k", root, RunReport(), tags="all")}
    assert every == {"p.jpg": ["wave", "surfer", "ride", "man", "ocean"], "q.jpg": ["cat", "sofa"]}
    none = load_dataset("flickr8k", root, RunReport(), tags="none")
    assert [p.hashtags for p in none] == [[], []]
    # a photo's tags do not depend on which part of the file is loaded
    (val,) = load_dataset("flickr8k", root, RunReport(), split="val")
    (first,) = load_dataset("flickr8k", root, RunReport(), limit=1, sample="head")
    assert (val.hashtags, first.hashtags) == (["cat", "sofa"], p.hashtags)


def test_each_photo_without_a_usable_file_is_counted_once_with_its_reason(tmp_path):
    root = write_token_file(tmp_path / "f8k", PHOTOS, {"p.jpg": "train", "q.jpg": "val"})
    r = RunReport()
    assert [p.image for p in load_dataset("flickr8k", root, r)] == [None, None]
    assert r.notes == {"image_not_available": 2}
    assert r.examples["image_not_available"][0] == f"image p.jpg: no image folder in {root}"
    # p.jpg: a link to a file outside the folder (refused); q.jpg: no file
    images = root / "Flicker8k_Dataset"
    images.mkdir()
    (tmp_path / "outside.jpg").write_bytes(b"not read")
    (images / "p.jpg").symlink_to(tmp_path / "outside.jpg")
    r = RunReport()
    assert [p.image for p in load_dataset("flickr8k", root, r)] == [None, None]
    assert r.notes == {"unsafe_image_path_dropped": 1, "image_not_available": 1}
    assert "escapes the data folder" in r.examples["unsafe_image_path_dropped"][0]
    assert r.examples["image_not_available"] == [f"image q.jpg: no file in {images}"]


def test_preprocess_gives_tagged_flickr8k_posts_by_default(tmp_path):
    from hashtag_kit.preprocess import PreprocessConfig, preprocess

    root = write_token_file(tmp_path / "f8k", PHOTOS, {"p.jpg": "train", "q.jpg": "val"})
    # no loader option: the default tag source is "held_out" (min_tag_freq 1: two photos only)
    cfg = PreprocessConfig(dataset="flickr8k", data_dir=str(root), min_tag_freq=1)
    out = preprocess(tmp_path / "run", cfg)
    assert {p.id: p.hashtags for p in out["posts"]} == {
        "p.jpg": ["man", "ocean", "wave"],
        "q.jpg": ["cat", "sofa"],
    }


# -- the datasheet ------------------------------------------------------------------------------


def test_datasheet_figures_by_hand():
    def post(i, tags, split):
        return Post(id=str(i), hashtags=tags, meta={"split": split})

    train = [["dog", "grass"], ["dog"], ["dog", "ball", "grass"], [], ["dog", "ball"]]
    posts = [post(i, t, "train") for i, t in enumerate(train)]
    posts += [post(10, ["cat"], "val"), post(11, ["dog", "cat"], None)]
    sheet = flickr8k_tags_datasheet(posts, top=2)
    assert list(sheet) == ["all", "train", "val", "unlisted"]  # no test posts: no "test" sheet
    tr = sheet["train"]
    assert tr["n_photos"] == 5
    assert tr["tags_per_photo"] == {"mean": 1.6, "median": 2.0, "min": 0, "max": 3}
    assert (tr["n_without_tags"], tr["share_without_tags"]) == (1, 0.2)
    assert tr["vocab_size"] == 3
    assert tr["vocab_size_at_min_freq"] == {"3": 1, "5": 0, "10": 0}  # dog: 4 photos
    assert tr["top_tags"] == [["dog", 4], ["ball", 2]]  # ball ties grass: alphabetical
    assert sheet["all"]["n_photos"] == 7 and sheet["all"]["top_tags"] == [["dog", 5], ["ball", 2]]
    assert sheet["unlisted"]["vocab_size"] == 2
    with pytest.raises(ValueError, match="no posts"):
        flickr8k_tags_datasheet([])


# -- the real file (HASHTAG_KIT_DATA) -----------------------------------------------------------


#: irregular plurals of Flickr8k's tags that no stem rule finds
IRREGULAR = {"child": "children", "foot": "feet", "tooth": "teeth", "goose": "geese", "ox": "oxen"}


def _used_by(tag: str, caption: str) -> bool:
    """The tag, or a plural of it, starts a word of the caption (stems: `puppy` <- `puppies`,
    `shelf` <- `shelves`, `man` <- `men` and `fireman` <- `firemen`, and `IRREGULAR`)."""
    forms = [tag[:-1] if tag.endswith(("y", "f")) else tag]
    if tag.endswith("man"):
        forms.append(tag[:-3] + "men")
    forms += [IRREGULAR[tag]] if tag in IRREGULAR else []
    return any(re.search(rf"\b{re.escape(f)}", caption.lower()) for f in forms)


@pytest.mark.realdata
def test_real_flickr8k_tags(real_data):
    posts = load_dataset("flickr8k", real_data / "flickr8k", RunReport())
    sheet = flickr8k_tags_datasheet(posts)
    print({k: {f: v for f, v in s.items() if f != "top_tags"} for k, s in sheet.items()})
    print("top 20 (all):", sheet["all"]["top_tags"])
    every = sheet["all"]
    assert every["n_photos"] == 8092 and all(len(p.captions) == 5 for p in posts)
    # 5 photos whose captions #1-#4 share no content word (e.g. skater / rollerblader /
    # skateboarder / skating), about 5 tags per photo
    assert every["n_without_tags"] == 5
    assert 2 <= every["tags_per_photo"]["mean"] <= 8 and every["tags_per_photo"]["max"] <= 20
    for part in ("train", "val", "test"):
        assert 4 <= sheet[part]["tags_per_photo"]["mean"] <= 6
    assert 1500 <= every["vocab_size"] <= 3000
    at = sheet["train"]["vocab_size_at_min_freq"]
    assert 600 <= at["3"] <= 1100 and at["3"] > at["5"] > at["10"] >= 300
    top10 = [t for t, _ in every["top_tags"][:10]]
    assert top10[0] == "dog" and {"man", "boy", "girl", "woman", "water"} <= set(top10)
    # no tag comes from caption #0 alone: every tag is used by >= 2 of captions #1-#4
    for p in posts:
        for t in p.hashtags:
            assert sum(_used_by(t, c) for c in p.captions[1:]) >= 2, (p.id, t)
    # plurals merged, no mangled singulars
    vocab = {t for p in posts for t in p.hashtags}
    assert {"dog", "grass", "dress", "glass", "horse", "bench"} <= vocab
    assert not {"dogs", "gras", "dres", "hors", "bu", "tenni"} & vocab
    # irregular plurals too ("two men" is #man), but "people" names a group and stays
    assert {"man", "woman", "child", "foot", "people", "person"} <= vocab
    assert not {"men", "women", "children", "feet", "teeth", "firemen"} & vocab
