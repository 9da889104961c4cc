"""Dataset loaders: hand-made malformed files for every format, and the real files (opt-in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from hashtag_kit.data import DATASETS, DatasetNotFoundError, load_dataset
from hashtag_kit.data.loaders import load_posts
from hashtag_kit.posts import Post, write_posts
from hashtag_kit.report import RunReport


def write_jsonl(path: Path, records) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 100, 0)).save(path)
    return path


# -- registry -----------------------------------------------------------------------------------


def test_registry_names_and_errors(tmp_path):
    assert set(DATASETS) == {
        "embedded",
        "posts",
        "coco",
        "flickr8k",
        "stanford_paragraphs",
        "harrison",
        "nuswide",
        "tweets",
    }
    with pytest.raises(ValueError, match="valid names: coco, embedded"):
        load_dataset("imagenet", tmp_path, RunReport())
    with pytest.raises(DatasetNotFoundError, match="cocodataset.org"):
        load_dataset("coco", tmp_path / "nowhere", RunReport())
    with pytest.raises(DatasetNotFoundError, match="needs data_dir"):
        load_dataset("harrison", None, RunReport())
    with pytest.raises(ValueError, match="no option.*'colour'.*valid options"):
        load_dataset("posts", tmp_path, RunReport(), colour="red")


# -- generic posts ------------------------------------------------------------------------------


def test_posts_jsonl_everything_counted(tmp_path):
    make_image(tmp_path / "images" / "a.png")
    outside = make_image(tmp_path.parent / f"{tmp_path.name}_outside.png")
    path = write_jsonl(
        tmp_path / "posts.jsonl",
        [
            {"id": "1", "image": "images/a.png", "caption": "Sun and sea #Beach", "tags": ["sea"]},
            '{"id": "2", "caption": "broken',  # bad JSON line
            "[1, 2, 3]",  # not an object
            {"id": "1", "caption": "again #dup"},  # duplicate id
            {"id": "3", "caption": "   ", "hashtags": "a, b", "image": "images/a.png"},
            {"id": "4", "caption": "no tags at all"},  # no hashtags
            {"caption": "who am i #x"},  # missing id
            {"id": "5", "image": "../../etc/passwd", "caption": "escape #x"},
            {"id": "6", "image": str(outside), "caption": "abs outside #x"},
            {"id": "7", "image": "images/missing.png", "caption": "gone #x"},
            {"id": "8", "caption": "ｆｕｌｌ\u200bwidth 🌊 #Ｆｕｌｌ #ok\u200b!", "user": "u1"},
            {"id": "9", "caption": "#only #tags", "image": "images/a.png"},
            {"id": "10", "hashtags": ["x", "!!", "#2019"], "caption": "junk tags"},
            {"id": "11", "hashtags": ["x"]},  # nothing to learn from
            {"id": "12", "hashtags": ["x"], "captions": ["a dog", " ", ""]},
        ],
    )
    r = RunReport()
    posts = load_posts(path, r)
    by_id = {p.id: p for p in posts}
    assert list(by_id) == ["1", "3", "5", "6", "7", "8", "9", "10", "12"]
    assert by_id["12"].captions == ["a dog"] and by_id["12"].text is None
    assert by_id["1"].hashtags == ["sea", "beach"]  # field first, then the text's
    assert by_id["1"].text == "Sun and sea"
    assert by_id["1"].image == str((tmp_path / "images" / "a.png").resolve())
    assert Path(by_id["1"].image).is_absolute()
    assert by_id["3"].text is None and by_id["3"].hashtags == ["a", "b"]
    assert by_id["5"].image is None and by_id["6"].image is None and by_id["7"].image is None
    assert by_id["8"].hashtags == ["full", "ok"] and by_id["8"].user == "u1"
    assert by_id["8"].text == "ｆｕｌｌwidth 🌊 !"  # zero-width removed, tags removed
    assert by_id["9"].text is None and by_id["9"].hashtags == ["only", "tags"]
    assert by_id["10"].hashtags == ["x"]
    assert r.counts == {
        "malformed_line": 2,
        "duplicate_id": 1,
        "post_without_hashtags": 1,
        "missing_id": 1,
        "post_without_content": 1,
    }
    assert r.notes["empty_text"] == 2  # 3 (blank) and 9 (only hashtags)
    assert r.notes["unsafe_image_path_dropped"] == 2
    assert r.notes["missing_or_unreadable_image"] == 1
    assert r.notes["junk_hashtags_dropped"] == 1
    assert r.notes["empty_captions_dropped"] == 1
    examples = " ".join(r.examples["malformed_line"])
    assert "posts.jsonl:2" in examples and "posts.jsonl:3" in examples
    assert any("post 1" in e for e in r.examples["duplicate_id"])


def test_posts_keep_untagged_and_limit(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": str(i), "text": f"post {i}" + (" #t" if i % 2 else "")} for i in range(10)],
    )
    assert len(load_posts(path, RunReport(), require_hashtags=False)) == 10
    assert [p.id for p in load_posts(path, RunReport())] == ["1", "3", "5", "7", "9"]
    assert [p.id for p in load_dataset("posts", path, RunReport(), limit=2)] == ["1", "3"]


def test_posts_not_utf8_and_bom(tmp_path):
    path = tmp_path / "p.jsonl"
    good = json.dumps({"id": "a", "text": "ok #t"}).encode()
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + b'{"id": "b", "text": "\xff\xfe"}\n')
    r = RunReport()
    assert [p.id for p in load_posts(path, r)] == ["a"]
    assert r.counts["malformed_line"] == 1 and "not UTF-8" in r.examples["malformed_line"][0]


def test_posts_lone_surrogate_replaced(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "s", "text": "bad \\ud800 char #t"}\n', encoding="utf-8")
    r = RunReport()
    (post,) = load_posts(path, r)
    post.text.encode("utf-8")  # writable as UTF-8 again
    assert r.notes["invalid_unicode_replaced"] == 1
    write_posts(tmp_path / "out.jsonl", [post])


def test_posts_csv(tmp_path):
    make_image(tmp_path / "img" / "1.jpg")
    (tmp_path / "posts.csv").write_text(
        "post_id,image_path,caption,hashtags,username,likes\n"
        "1,img/1.jpg,Morning surf #waves,surf beach,anna,10\n"
        '2,,"quoted, comma",#Sea #sun,bob,3\n'
        "3,img/1.jpg,too,many,fields,here,x\n"
        "4,img/1.jpg\n"
        "5,,,,carl,\n",
        encoding="utf-8",
    )
    r = RunReport()
    posts = load_dataset("posts", tmp_path, r)
    assert [(p.id, p.hashtags, p.user) for p in posts] == [
        ("1", ["surf", "beach", "waves"], "anna"),
        ("2", ["sea", "sun"], "bob"),
    ]
    assert posts[0].meta == {"likes": "10"} and posts[0].text == "Morning surf"
    assert posts[0].image.endswith("img/1.jpg") and posts[1].image is None
    assert r.counts["malformed_line"] == 2
    assert any("posts.csv:4" in e for e in r.examples["malformed_line"])
    assert r.counts["post_without_content"] == 1


def test_posts_csv_header_without_usable_columns(tmp_path):
    (tmp_path / "posts.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"posts.csv: no usable column.*\['a', 'b'\]"):
        load_dataset("posts", tmp_path, RunReport())


def test_posts_tsv_without_id_column(tmp_path):
    (tmp_path / "x.tsv").write_text("caption\thashtags\nhello\tsea\nbye\tsun\n")
    r = RunReport()
    posts = load_posts(tmp_path / "x.tsv", r)
    assert [p.id for p in posts] == ["x:2", "x:3"]
    assert r.notes["ids_from_line_numbers"] == 1


def test_posts_folder_choice(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no posts file"):
        load_posts(tmp_path, RunReport())
    write_jsonl(tmp_path / "a.jsonl", [{"id": "1", "text": "x #a"}])
    write_jsonl(tmp_path / "b.jsonl", [{"id": "2", "text": "y #b"}])
    with pytest.raises(ValueError, match="several candidate files.*file="):
        load_posts(tmp_path, RunReport())
    assert [p.id for p in load_posts(tmp_path, RunReport(), file="b.jsonl")] == ["2"]


def test_posts_reads_a_post_manifest(tmp_path):
    """The embedded dataset's posts.jsonl: Post fields, image paths relative to the folder."""
    make_image(tmp_path / "images" / "000001.png")
    p = Post(
        "000001",
        ["sunset", "beach"],
        user="u3",
        image="images/000001.png",
        text="golden sky",
        captions=["a beach at sunset", "the sun sets over the sea"],
        paragraph="A beach. The sun sets.",
        meta={"scene": "beach"},
    )
    write_posts(tmp_path / "posts.jsonl", [p])
    (q,) = load_posts(tmp_path, RunReport())
    assert q.image == str((tmp_path / "images" / "000001.png").resolve())
    assert (q.id, q.hashtags, q.user, q.text, q.captions, q.paragraph, q.meta) == (
        p.id,
        p.hashtags,
        p.user,
        p.text,
        p.captions,
        p.paragraph,
        p.meta,
    )


def test_embedded_delegates_to_generator(tmp_path):
    pytest.importorskip("hashtag_kit.data.embedded", reason="embedded generator not landed yet")
    r = RunReport()
    posts = load_dataset("embedded", tmp_path / "emb", r, n_posts=40, seed=0)
    assert 0 < len(posts) <= 40 and len({p.id for p in posts}) == len(posts)
    assert all(p.hashtags for p in posts)
    assert all(Path(p.image).is_absolute() and Path(p.image).is_file() for p in posts if p.image)
    assert all("#" not in (p.text or "") for p in posts)
    # the generator plants one truncated image: a full check finds and counts it
    r2 = RunReport()
    checked = load_dataset("embedded", tmp_path / "emb", r2, n_posts=40, validate_images=True)
    assert sum(p.has_image for p in checked) == sum(p.has_image for p in posts) - 1
    assert r2.notes["missing_or_unreadable_image"] == 1
    assert len(load_dataset("embedded", tmp_path / "emb", RunReport(), n_posts=40, limit=5)) == 5
