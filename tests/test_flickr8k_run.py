"""The Flickr8k smoke run (real photos): its orderings, and serving its model on real photos.

The run (`flickr8k_smoke_run` in conftest.py: `reproduce --mode smoke --dataset flickr8k`,
a few hundred photos and small models) is made once per session; these tests read the
metrics.json files its notebooks wrote and serve its encoder-decoder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hashtag_kit.run import ATTENTION, CAPTION, ENCODER_DECODER, PREPROCESS, RunDir

pytestmark = [pytest.mark.realdata, pytest.mark.smoke]
K = "5"


def _metrics(run: Path, stage: str) -> dict:
    return json.loads((run / stage / "metrics.json").read_text())


def test_flickr8k_run_is_scored_on_dev_photos(flickr8k_smoke_run):
    rd = RunDir(flickr8k_smoke_run)
    assert rd.meta()["dataset"] == "flickr8k"
    assert rd.meta()["official_test_part"] == "val"  # the shared copy withholds the test photos
    official = rd.load_splits()["official"]
    assert official["test"] == official["val"] and official["train"]
    posts = {p.id: p for p in rd.load_posts()}
    dev = {line.strip() for line in open(rd.meta()["data_dir"] + "/Flickr_8k.devImages.txt")}
    assert set(official["test"]) <= dev
    assert all(posts[i].image and posts[i].hashtags for i in official["test"])
    pre = _metrics(flickr8k_smoke_run, PREPROCESS)
    assert pre["official_test_part"] == "val"
    assert pre["stats"]["tags_per_post_mean"] > 2


def test_attention_captioner_beats_the_most_frequent_caption(flickr8k_smoke_run):
    captions = _metrics(flickr8k_smoke_run, CAPTION)["captions"]
    base = captions["most frequent caption"]
    for name in ("show-attend-tell greedy", "show-attend-tell beam3"):
        assert captions[name]["bleu4"] > base["bleu4"], name
        assert captions[name]["cider"] > base["cider"], name
    assert captions["show-attend-tell greedy"]["n_images"] >= 50


def test_image_to_hashtag_models_beat_popularity(flickr8k_smoke_run):
    att = _metrics(flickr8k_smoke_run, ATTENTION)["models"]
    ed = _metrics(flickr8k_smoke_run, ENCODER_DECODER)["models"]
    pop = att["popularity"]["ranking"]["f1"][K]
    direct = {
        "kNN image": att["kNN image"],
        "attention LSTM image-only": att["attention LSTM image-only"],
        "CNN-RNN": att["CNN-RNN"],
        "encoder-decoder, image input only": ed["encoder-decoder weighted+user, image input only"],
    }
    for name, entry in direct.items():
        assert entry["ranking"]["f1"][K] > pop, (name, entry["ranking"]["f1"][K], pop)


def _dog_photos(run: Path, n: int = 30) -> list:
    """Dev photos of the run whose captions mostly say "dog" (at least 4 of 5)."""
    rd = RunDir(run)
    test = rd.split_posts("official")["test"]
    dogs = [p for p in test if p.image and sum("dog" in c.lower().split() for c in p.captions) >= 4]
    return dogs[:n]


def test_served_model_says_dog_for_dog_photos(flickr8k_smoke_run):
    from hashtag_kit.recommender import Recommender

    rec = Recommender.load(flickr8k_smoke_run)
    dogs = _dog_photos(flickr8k_smoke_run)
    assert len(dogs) >= 10
    hits = [("dog" in rec.recommend(image=p.image, k=5).tags) for p in dogs]
    assert sum(hits) >= 0.7 * len(hits), f"#dog in the top 5 for {sum(hits)} of {len(hits)}"


def test_recommend_cli_on_a_real_photo(flickr8k_smoke_run):
    (photo,) = _dog_photos(flickr8k_smoke_run, n=1)
    cmd = [sys.executable, "-m", "hashtag_kit", "recommend", "--run", str(flickr8k_smoke_run)]
    cmd += ["--image", photo.image, "-k", "5", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    tags = [h["tag"] for h in json.loads(done.stdout)["hashtags"]]
    assert len(tags) == 5 and "dog" in tags
