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

import numpy as np
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
    assert _metrics(flickr8k_smoke_run, PREPROCESS)["stats"]["tags_per_post_mean"] > 2


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


def _photos(run: Path, dog: bool, n: int = 30) -> list:
    """Dev photos of the run whose captions say "dog" (at least 4 of 5), or never do."""
    test = RunDir(run).split_posts("official")["test"]

    def says_dog(p):
        return sum(any(w.startswith("dog") for w in c.lower().split()) for c in p.captions)

    return [p for p in test if p.image and (says_dog(p) >= 4 if dog else says_dog(p) == 0)][:n]


def test_served_model_says_dog_for_dog_photos(flickr8k_smoke_run):
    from hashtag_kit.recommender import Recommender

    rec = Recommender.load(flickr8k_smoke_run)
    rate = {}
    for dog in (True, False):
        photos = _photos(flickr8k_smoke_run, dog)
        assert len(photos) >= 10
        rate[dog] = np.mean([("dog" in rec.recommend(image=p.image, k=5).tags) for p in photos])
    # #dog is the most common tag: the model must say it for dog photos, not for every photo
    assert rate[True] >= 0.7, rate
    assert rate[True] >= rate[False] + 0.3, rate


def test_recommend_cli_on_a_real_photo(flickr8k_smoke_run):
    (photo,) = _photos(flickr8k_smoke_run, dog=True, n=1)
    cmd = [sys.executable, "-m", "hashtag_kit", "recommend", "--run", str(flickr8k_smoke_run)]
    cmd += ["--image", photo.image, "-k", "5", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    tags = [h["tag"] for h in json.loads(done.stdout)["hashtags"]]
    assert len(tags) == 5 and "dog" in tags


def test_report_shows_the_run_beside_the_published_flickr8k_rows(flickr8k_smoke_run):
    report = flickr8k_smoke_run / "05_comparison" / "report.html"
    html = report.read_text(encoding="utf-8")
    assert "flickr8k" in html.lower() and "Xu et al. 2015" in html
    assert "show-attend-tell greedy" in html


def test_readme_section_is_generated_from_the_run(flickr8k_smoke_run):
    from tools.readme_results import render_real_photos

    text = render_real_photos(flickr8k_smoke_run)
    recorded = json.loads((flickr8k_smoke_run / CAPTION / "metrics.json").read_text())
    captions, extra = recorded["captions"], recorded["extra"]
    row = next(line for line in text.splitlines() if line.startswith("| show-attend-tell greedy"))
    assert f"{captions['show-attend-tell greedy']['bleu4']:.3f}" in row
    assert "| soft attention | Xu et al. 2015 |" in text and "dev list" in text
    image = recorded["encoders"]["image"]  # the preset's encoder: a 14x14 grid
    assert (image["name"], image["grid_shape"]) == ("efficientnet_lite0_448", [14, 14, 1280])
    assert "the 14x14x1280 grid of `efficientnet_lite0_448`" in text
    decoding = (
        f"decoding: beam_width {extra['beam_width']}, length_penalty {extra['length_penalty']}"
    )
    assert decoding in text  # the settings the run decoded with
    assert "| kNN image | 03 |" in text and "text removed" in text
    # the README's compact block says each stage's measured time and what the cache gave
    compact = render_real_photos(flickr8k_smoke_run, compact=True)
    timings = json.loads((flickr8k_smoke_run / "timings.json").read_text())
    wall = next(line for line in compact.splitlines() if "measured wall time" in line)
    assert all(f"{stage[:2]} {seconds:.0f} s" in wall for stage, seconds in timings.items())
    assert "notebook 01's feature cache: image " in compact and " computed" in compact
    # ... and the hashtag and fusion tables at K = 5 alone (the user's top tags fall back to
    # popularity on Flickr8k, which has no users: one row names both)
    assert "| model | notebook | Hit@5 | P@5 | R@5 | F1@5 |" in compact
    assert "| popularity = user top tags | 03 |" in compact and "| kNN image | 03 |" in compact
    assert "| model | F1@5 image + text | F1@5 text removed | F1@5 image removed |" in compact


def test_web_demo_serves_the_flickr8k_model_on_a_real_photo(flickr8k_smoke_run):
    """The web demo's API on the Flickr8k run: a dev photo uploaded, then one tag accepted."""
    from fastapi.testclient import TestClient

    from hashtag_kit.recommender import Recommender
    from hashtag_kit.web_demo import create_app, load_samples

    rec = Recommender.load(flickr8k_smoke_run)
    samples = load_samples(flickr8k_smoke_run, n=2)
    # the page's samples: photos the served model never trained on (the dev list, test withheld)
    parts = RunDir(flickr8k_smoke_run).split_posts("official")
    dev = {p.id for p in parts["val"]}
    assert len(samples) == 2 and {s.id for s in samples} <= dev
    assert not {s.id for s in samples} & {p.id for p in parts["train"]}
    app = create_app(rec, samples=samples)
    photo = Path(_photos(flickr8k_smoke_run, dog=True, n=1)[0].image)
    with TestClient(app) as client:
        files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
        first = client.post("/recommend", files=files, data={"text": "", "k": "5"})
        assert first.status_code == 200, first.text
        tags = [h["tag"] for h in first.json()["hashtags"]]
        assert len(tags) == 5 and set(tags) <= set(rec.tokens)
        data = {"k": "5", "accepted": tags[0]}
        again = client.post("/recommend", files=files, data=data).json()
        assert tags[0] not in [h["tag"] for h in again["hashtags"]]
        info = client.get("/info").json()
        assert info["run"] == flickr8k_smoke_run.name and info["samples_part"] == "dev"
