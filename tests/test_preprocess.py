"""Stage 01 on hand-made posts: cleaning counts, manifests, vocab, splits, CLI."""

import json

import numpy as np
import pytest
from PIL import Image

from hashtag_kit.__main__ import main as cli
from hashtag_kit.data.posts import read_posts
from hashtag_kit.preprocess import PreprocessConfig, build_vocab, preprocess
from hashtag_kit.run import RunDir


@pytest.fixture
def posts_dir(tmp_path):
    d = tmp_path / "insta"
    (d / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"img/{i}.png")
        tags = ["beach", "sun"] if i % 2 else ["city", "night"]
        if i % 10 == 0:
            tags.append(f"rare{i}")  # used once: dropped by min_tag_freq
        rows.append(
            {
                "id": f"p{i}",
                "image": f"img/{i}.png",
                "text": f"post number {i}",
                "hashtags": tags,
                "user": f"u{i % 7}",
            }
        )
    rows.append(
        {"id": "only_rare", "image": "img/0.png", "text": "x", "hashtags": ["once"], "user": "u1"}
    )
    (d / "img" / "broken.png").write_bytes(b"not a png at all")
    rows.append(
        {
            "id": "broken",
            "image": "img/broken.png",
            "text": "broken image",
            "hashtags": ["beach"],
            "user": "u2",
        }
    )
    (d / "posts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_preprocess_writes_manifests_and_counts_what_it_dropped(posts_dir, tmp_path):
    run = tmp_path / "run"
    out = preprocess(
        run, PreprocessConfig(dataset="posts", data_dir=str(posts_dir), min_tag_freq=2, seed=1)
    )
    rd = RunDir(run)
    posts = rd.load_posts()
    ids = {p.id for p in posts}
    assert "only_rare" not in ids  # its one tag is rare, so the post has no tag left
    assert not any(t.startswith("rare") for p in posts for t in p.hashtags)
    assert len(posts) == 61  # 60 + the broken-image post, kept without its image
    broken = next(p for p in posts if p.id == "broken")
    assert broken.image is None and "image_error" in broken.meta
    report = json.loads((run / "01_preprocess" / "report.json").read_text())
    assert report["skipped"]["post_without_frequent_hashtags"] == 1
    assert report["repaired"]["unreadable_image_treated_as_missing"] == 1
    vocab = rd.load_vocab()
    assert vocab["hashtags"][0] == "beach" and vocab["counts"]["beach"] == 31
    splits = rd.load_splits()
    assert set(splits) == {"random", "user_disjoint"}
    assert sorted(sum(splits["random"].values(), [])) == sorted(ids)
    assert rd.meta()["dataset"] == "posts"
    metrics = rd.metrics("01_preprocess")
    assert metrics["stats"]["n_posts"] == 61 and metrics["stats"]["with_image"] == 60
    assert out["stats"]["n_users"] == 7
    assert read_posts(run / "01_preprocess" / "posts.jsonl")[0].id == posts[0].id


def test_build_vocab_orders_by_frequency_then_name():
    from hashtag_kit.data.posts import Post

    posts = [Post("1", ["b", "a"]), Post("2", ["a", "c"]), Post("3", ["c", "b"])]
    assert build_vocab(posts, 1)["hashtags"] == ["a", "b", "c"]


def test_empty_result_is_a_clear_error(posts_dir, tmp_path):
    with pytest.raises(ValueError, match="survived cleaning"):
        preprocess(
            tmp_path / "r",
            PreprocessConfig(dataset="posts", data_dir=str(posts_dir), min_tag_freq=1000),
        )


def test_cli_reports_missing_dataset(tmp_path, capsys):
    code = cli(
        [
            "preprocess",
            "--run",
            str(tmp_path / "r"),
            "--dataset",
            "posts",
            "--data-dir",
            str(tmp_path / "nowhere"),
        ]
    )
    assert code == 2
    assert "nowhere" in capsys.readouterr().out


def test_bad_run_mode_rejected():
    with pytest.raises(ValueError, match="run_mode"):
        PreprocessConfig(run_mode="fast").resolved()


def test_captioning_data_without_hashtags_can_be_preprocessed(tmp_path):
    d = tmp_path / "flickr"
    d.mkdir()
    (d / "Flickr8k.token.txt").write_text(
        "a.jpg#0 a dog runs\na.jpg#1\ta brown dog\nb.jpg#0\ta child plays\n"
    )
    for part, names in (("train", "a.jpg"), ("dev", "b.jpg"), ("test", "")):
        (d / f"Flickr_8k.{part}Images.txt").write_text(names + "\n")
    cfg = PreprocessConfig(
        dataset="flickr8k", data_dir=str(d), min_tag_freq=1, require_hashtags=False
    )
    out = preprocess(tmp_path / "run", cfg)
    assert sorted(len(p.captions) for p in out["posts"]) == [1, 2]
    with pytest.raises(ValueError, match="survived cleaning"):
        preprocess(tmp_path / "run2", PreprocessConfig(dataset="flickr8k", data_dir=str(d)))
