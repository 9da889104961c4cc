"""Recommender API and `recommend` CLI, on a small hand-weighted stand-in model that honours the
notebook-02 artifact contract (model.keras with `decode`, tags.json, users.json,
model_config.json), with stand-in encoders; plus one run through the kit's real encoders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from hashtag_kit.__main__ import main as cli_main
from hashtag_kit.data.posts import Post
from hashtag_kit.recommender import IncompatibleRunError, Recommendations, Recommender
from hashtag_kit.report import RunReport
from hashtag_kit.vocabulary import N_SPECIAL

REPO = Path(__file__).resolve().parent.parent
TOKENS = ["<pad>", "<start>", "<end>", "<unk>", "cat", "kitten", "dog", "beach", "sunset", "food"]
TOKENS += ["coffee"]
TAG = {t: i for i, t in enumerate(TOKENS)}
KEYWORDS = ["cat", "dog", "beach", "food", "coffee"]


@keras.saving.register_keras_serializable(package="hashtag_kit_tests")
class StandInEncoderDecoder(keras.Model):
    """Scores every tag from linear image/text terms plus the user's and typed tags.

    `decode` follows the HashtagEncoderDecoder contract: top-k ids and probabilities, never
    special, excluded or typed ids, no repeats (beam search is irrelevant for a one-step model).
    """

    def __init__(self, n_tokens: int, image_dim: int, text_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.n_tokens, self.image_dim, self.text_dim = n_tokens, image_dim, text_dim
        self.image_proj = keras.layers.Dense(n_tokens, use_bias=False, name="image_proj")
        self.text_proj = keras.layers.Dense(n_tokens, use_bias=False, name="text_proj")
        self.tag_bias = keras.layers.Embedding(n_tokens, n_tokens, name="tag_bias")
        self.image_proj.build((None, image_dim))
        self.text_proj.build((None, text_dim))
        self.tag_bias.build((None, None))
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            "n_tokens": self.n_tokens,
            "image_dim": self.image_dim,
            "text_dim": self.text_dim,
        }

    def call(self, inputs):
        ops = keras.ops
        image = inputs["image"] * ops.expand_dims(inputs["image_mask"], -1)
        text = inputs["text"] * ops.expand_dims(inputs["text_mask"], -1)
        tags = ops.concatenate([inputs["history"], inputs["existing"]], axis=1)
        present = ops.expand_dims(ops.cast(tags > 0, "float32"), -1)
        bias = ops.sum(self.tag_bias(tags) * present, axis=1)
        return self.image_proj(image) + self.text_proj(text) + bias

    def decode(self, inputs, k, beam_width=3, exclude=None):
        logits = keras.ops.convert_to_numpy(self(inputs)).astype("float64")
        logits[:, :4] = -np.inf
        for i, row in enumerate(np.asarray(inputs["existing"])):
            logits[i, row[row > 0]] = -np.inf
            if exclude is not None:
                logits[i, sorted(exclude[i])] = -np.inf
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        ids = [[int(j) for j in row if np.isfinite(logits[i, j])] for i, row in enumerate(order)]
        return ids, [[float(probs[i, j]) for j in row] for i, row in enumerate(ids)]


def _hand_weighted_model() -> StandInEncoderDecoder:
    model = StandInEncoderDecoder(len(TOKENS), image_dim=3, text_dim=len(KEYWORDS))
    w_img = np.zeros((3, len(TOKENS)), "float32")
    w_img[0, [TAG["cat"], TAG["kitten"]]] = [6.0, 5.0]  # red images are cats
    w_img[2, [TAG["beach"], TAG["sunset"]]] = [6.0, 5.0]  # blue images are beaches
    w_txt = np.zeros((len(KEYWORDS), len(TOKENS)), "float32")
    for row, tags in enumerate([["cat"], ["dog"], ["beach"], ["food"], ["coffee", "food"]]):
        for rank, t in enumerate(tags):
            w_txt[row, TAG[t]] = 7.0 - rank
    bias = np.zeros((len(TOKENS), len(TOKENS)), "float32")
    bias[TAG["coffee"], TAG["food"]] = 3.0  # typing #coffee suggests #food
    bias[TAG["dog"], TAG["dog"]] = 9.0  # a user who tags #dog gets #dog
    model.image_proj.kernel.assign(w_img)
    model.text_proj.kernel.assign(w_txt)
    model.tag_bias.embeddings.assign(bias)
    return model


class MeanColourEncoder:
    """Stand-in image encoder: the mean R, G, B of the image in [0, 1]."""

    name, dim, digest = "mean_colour", 3, "standin-image-1"

    def __init__(self):
        self.calls = 0

    def encode(self, images):
        self.calls += 1
        return np.stack([np.asarray(im, "float32").mean(axis=(0, 1)) / 255.0 for im in images])


class KeywordEncoder:
    """Stand-in text encoder: keyword counts."""

    name, dim, digest = "keywords", len(KEYWORDS), "standin-text-1"

    def encode(self, texts):
        return np.array(
            [[t.lower().split().count(w) for w in KEYWORDS] for t in texts], dtype="float32"
        )


CONFIG = {
    "format_version": 1,
    "kit_version": "0.1.0",
    "image_encoder": {"name": "mean_colour", "digest": "standin-image-1", "dim": 3},
    "text_encoder": {"name": "keywords", "digest": "standin-text-1", "dim": len(KEYWORDS)},
    "history_len": 4,
    "existing_len": 3,
}
USERS = {"dog_person": [TAG["dog"]], "u2": [TAG["beach"]]}


def write_stage(stage: Path, model, config=CONFIG, tokens=TOKENS, users=USERS) -> Path:
    stage.mkdir(parents=True, exist_ok=True)
    model.save(stage / "model.keras")
    (stage / "tags.json").write_text(json.dumps({"tokens": tokens}))
    (stage / "users.json").write_text(json.dumps(users))
    (stage / "model_config.json").write_text(json.dumps(config))
    return stage


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rec_run")
    write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    return run


@pytest.fixture()
def rec(run_dir) -> Recommender:
    return Recommender.load(
        run_dir, image_encoder=MeanColourEncoder(), text_encoder=KeywordEncoder()
    )


def _png(path: Path, rgb) -> str:
    Image.fromarray(np.full((32, 40, 3), rgb, dtype=np.uint8)).save(path)
    return str(path)


RED, BLUE = (230, 10, 10), (10, 10, 230)


def test_image_only_from_path_and_array(rec, tmp_path):
    out = rec.recommend(image=_png(tmp_path / "red.png", RED), k=2)
    assert isinstance(out, Recommendations)
    assert out.tags == ["cat", "kitten"]
    assert out[0][1] > out[1][1] > 0 and not out.notes and not out.cold_start
    arr = rec.recommend(image=np.full((20, 20, 3), BLUE, np.uint8), k=2)
    assert arr.tags == ["beach", "sunset"]


def test_a_model_trained_on_generated_pictures_says_so_for_every_image(run_dir, tmp_path):
    """A run of the embedded (generated) dataset answers a photo with its cartoons' tags: every
    recommendation for an image says so and where a photo run comes from; a caption alone, or
    a run trained on photos, gets no such note."""
    import shutil

    from hashtag_kit.run import RunDir

    runs = {}
    for dataset in ("embedded", "flickr8k"):
        runs[dataset] = shutil.copytree(run_dir, tmp_path / dataset)
        RunDir(runs[dataset]).update_meta(dataset=dataset)
    enc = {"image_encoder": MeanColourEncoder(), "text_encoder": KeywordEncoder()}
    cartoons, photos = (Recommender.load(runs[d], **enc) for d in ("embedded", "flickr8k"))
    red = _png(tmp_path / "red.png", RED)
    (note,) = cartoons.recommend(image=red, k=2).notes
    assert "generated pictures (dataset 'embedded')" in note and "reproduce-flickr8k" in note
    assert cartoons.recommend(image=red, k=2).tags == photos.recommend(image=red, k=2).tags
    assert not cartoons.recommend(text="morning coffee", k=2).notes
    assert not photos.recommend(image=red, text="morning coffee", k=2).notes


def test_text_only(rec):
    assert rec.recommend(text="morning coffee", k=2).tags == ["coffee", "food"]
    assert rec.recommend(text="my dog", k=1).tags == ["dog"]


def test_image_and_text_both_count(rec, tmp_path):
    out = rec.recommend(image=_png(tmp_path / "b.png", BLUE), text="coffee", k=4)
    assert set(out.tags) == {"beach", "sunset", "coffee", "food"}


def test_existing_tags_never_resuggested_and_condition(rec, tmp_path):
    red = _png(tmp_path / "red.png", RED)
    out = rec.recommend(image=red, existing=["#Cat", " kitten "], k=5)
    assert "cat" not in out.tags and "kitten" not in out.tags
    assert len(out) == 5
    # comma-separated string form; a typed #coffee conditions the model towards #food
    plain = rec.recommend(image=red, k=7)
    typed = rec.recommend(image=red, existing="coffee", k=7)
    assert "coffee" not in typed.tags
    assert typed.tags.index("food") < plain.tags.index("food")
    # a typed tag outside the vocabulary is harmless
    assert rec.recommend(image=red, existing=["#neverseen"], k=2).tags == ["cat", "kitten"]


def test_known_and_unknown_users(rec, tmp_path):
    red = _png(tmp_path / "red.png", RED)
    assert rec.recommend(image=red, user="dog_person", k=1).tags == ["dog"]
    out = rec.recommend(image=red, user="nobody", k=2)
    assert out.cold_start and "nobody" in out.notes[0] and "cold-start" in out.notes[0]
    assert out.tags == ["cat", "kitten"]  # falls back to the unpersonalised ranking
    assert not rec.recommend(image=red, user=None, k=2).cold_start


def test_empty_post_raises(rec):
    with pytest.raises(ValueError, match="empty post"):
        rec.recommend()
    with pytest.raises(ValueError, match="empty post.*blank"):
        rec.recommend(text="   \n")


def test_unreadable_and_missing_image_raise_naming_the_file(rec, tmp_path):
    from hashtag_kit.data.images import ImageError

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageError, match="broken.jpg"):
        rec.recommend(image=str(bad), text="cat")
    with pytest.raises(ImageError, match="nothere.png"):
        rec.recommend(image=str(tmp_path / "nothere.png"))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        rec.recommend(image=np.zeros((4, 4, 7)))


def test_bad_k_and_beam(rec):
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend(text="cat", k=0)
    with pytest.raises(ValueError, match="beam_width"):
        rec.recommend(text="cat", beam_width=0)


def test_encoders_loaded_once(run_dir, tmp_path):
    enc = MeanColourEncoder()
    rec = Recommender.load(run_dir, image_encoder=enc, text_encoder=KeywordEncoder())
    red = _png(tmp_path / "red.png", RED)
    rec.recommend(image=red)
    rec.recommend(image=red)
    assert rec.image_encoder is enc and enc.calls == 2


def test_wrong_encoder_refused(run_dir):
    class Other(MeanColourEncoder):
        digest = "something-else"

    with pytest.raises(RuntimeError, match="digest"):
        Recommender.load(run_dir, image_encoder=Other())


def test_keras_round_trip_gives_identical_recommendations(tmp_path):
    model = _hand_weighted_model()
    # perturb so that scores are not round numbers
    model.text_proj.kernel.assign(
        model.text_proj.kernel.numpy() + np.random.default_rng(0).normal(0, 0.3, (5, len(TOKENS)))
    )
    encoders = {"image_encoder": MeanColourEncoder(), "text_encoder": KeywordEncoder()}
    before = Recommender(model, TOKENS, USERS, CONFIG, **encoders)
    stage = write_stage(tmp_path / "run" / "02_encoder_decoder_hashtags", model)
    after = Recommender.load(tmp_path / "run", **encoders)
    assert type(after.model).__name__ == "StandInEncoderDecoder"
    red = _png(tmp_path / "r.png", RED)
    for kwargs in [
        {"image": red},
        {"text": "coffee and cat"},
        {"image": red, "text": "dog", "user": "u2", "existing": ["food"]},
    ]:
        a, b = before.recommend(k=6, **kwargs), after.recommend(k=6, **kwargs)
        assert a.tags == b.tags
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-6)
    # the stage folder itself is accepted too
    assert Recommender.load(stage, **encoders).tokens == TOKENS


def test_keras_round_trip_of_the_kits_encoder_decoder(tmp_path):
    """Same check on the kit's HashtagEncoderDecoder written by its own `save_stage`."""
    from hashtag_kit.stage import save_stage

    model, tokens = _kit_model(3, len(KEYWORDS), seed=1)
    users = {"u2": [tokens.index("beach"), tokens.index("sunset")]}
    cfg = {**CONFIG}
    encoders = {"image_encoder": MeanColourEncoder(), "text_encoder": KeywordEncoder()}
    before = Recommender(model, tokens, users, cfg, **encoders)
    save_stage(tmp_path / "run" / "02_encoder_decoder_hashtags", model, tokens, users, cfg)
    after = Recommender.load(tmp_path / "run", **encoders)
    assert type(after.model).__name__ == "HashtagEncoderDecoder"
    blue = _png(tmp_path / "b.png", BLUE)
    for kwargs in [
        {"image": blue},
        {"text": "coffee and cat", "beam_width": 1},
        {"image": blue, "text": "dog", "user": "u2", "existing": ["#Food"]},
    ]:
        a, b = before.recommend(k=5, **kwargs), after.recommend(k=5, **kwargs)
        assert a.tags == b.tags and len(a) == 5
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-5)
    assert "food" not in after.recommend(text="dog", existing=["#Food"], k=6).tags
    # a fresh process that imports nothing but `load_stage` reads it (the kit's classes are
    # registered by load_stage itself)
    code = "import sys; from hashtag_kit.stage import load_stage; "
    code += "print(type(load_stage(sys.argv[1]).model).__name__)"
    stage = tmp_path / "run" / "02_encoder_decoder_hashtags"
    out = subprocess.run(
        [sys.executable, "-c", code, str(stage)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip() == "HashtagEncoderDecoder", out.stderr[-800:]


def test_first_step_ranking_reads_the_decoders_next_tag_distribution(tmp_path):
    from hashtag_kit.vocabulary import N_SPECIAL, START

    model, tokens = _kit_model(3, len(KEYWORDS), seed=2)
    rec = Recommender(
        model, tokens, {}, CONFIG, image_encoder=MeanColourEncoder(), text_encoder=KeywordEncoder()
    )
    out = rec.recommend(text="dog and coffee", existing=["#Food"], k=4, ranking="first_step")
    assert len(out) == 4 and len(set(out.tags)) == 4 and "food" not in out.tags
    assert set(out.tags) <= set(tokens[4:])
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    # the top tag is the argmax of the model's logits after <start>, #food
    x = {
        "image": np.zeros((1, 3), "float32"),
        "image_mask": np.zeros(1, "float32"),
        "text": KeywordEncoder().encode(["dog and coffee"]),
        "text_mask": np.ones(1, "float32"),
        "history": np.zeros((1, 4), "int32"),
        "decoder_in": np.array([[START, tokens.index("food")]], "int32"),
    }
    logits = keras.ops.convert_to_numpy(model(x, training=False))[0, 1].copy()
    logits[:N_SPECIAL] = -np.inf
    logits[tokens.index("food")] = -np.inf
    assert out.tags[0] == tokens[int(np.argmax(logits))]
    # the batch form agrees; a model without per-step logits and a bad name are refused
    (batch,) = rec.recommend_batch(
        [Post("p", text="dog and coffee")], existing=[["food"]], k=4, ranking="first_step"
    )
    assert batch.tags == out.tags
    standin = Recommender(
        _hand_weighted_model(), TOKENS, USERS, CONFIG, text_encoder=KeywordEncoder()
    )
    with pytest.raises(ValueError, match="per-step tag logits"):
        standin.recommend(text="cat", ranking="first_step")
    with pytest.raises(ValueError, match="ranking must be one of"):
        rec.recommend(text="cat", ranking="best")


def test_missing_files_and_incompatible_version(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_encoder_decoder_hashtags.*does not exist"):
        Recommender.load(tmp_path / "empty_run")
    stage = write_stage(tmp_path / "run" / "02_encoder_decoder_hashtags", _hand_weighted_model())
    (stage / "users.json").unlink()
    with pytest.raises(FileNotFoundError, match="users.json is missing"):
        Recommender.load(tmp_path / "run")
    write_stage(stage, _hand_weighted_model(), config={**CONFIG, "format_version": 99})
    with pytest.raises(IncompatibleRunError, match=r"model_config.json has format_version 99"):
        Recommender.load(tmp_path / "run")
    write_stage(stage, _hand_weighted_model())
    (stage / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(IncompatibleRunError, match="model.keras could not be loaded"):
        Recommender.load(tmp_path / "run")
    write_stage(stage, _hand_weighted_model())
    (stage / "tags.json").write_text(json.dumps({"words": TOKENS}))  # an older kit's layout
    with pytest.raises(IncompatibleRunError) as e:
        Recommender.load(tmp_path / "run")
    # one line: the file named once, then what to do, said once
    assert str(e.value).count(str(stage / "tags.json")) == 1
    assert str(e.value).count("re-run") == 1
    assert str(e.value).endswith("re-run notebook 02_encoder_decoder_hashtags.ipynb for this run")


def test_text_only_model_rejects_images(run_dir):
    cfg = {**CONFIG, "image_encoder": None}
    rec = Recommender(_hand_weighted_model(), TOKENS, USERS, cfg, text_encoder=KeywordEncoder())
    with pytest.raises(ValueError, match="trained without image"):
        rec.recommend(image=np.zeros((8, 8, 3), np.uint8))


def test_recommend_batch_matches_single_and_counts_bad_posts(rec, tmp_path):
    red, blue = _png(tmp_path / "red.png", RED), _png(tmp_path / "blue.png", BLUE)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    posts = [
        Post("p1", ["x"], image=red),
        Post("p2", text="coffee time", user="nobody"),
        Post("p3", image=blue, text="my dog", user="dog_person"),
        Post("p4", image=str(bad), text="cat"),
        Post("p5", text="  "),
    ]
    report = RunReport()
    out = rec.recommend_batch(
        posts, k=3, existing=[None, ["food"], ["snowboarding"], None, None], report=report
    )
    assert len(out) == 5
    assert out[0].tags == rec.recommend(image=red, k=3).tags
    # a typed tag outside the vocabulary is named, as `recommend` names it
    single = rec.recommend(image=blue, text="my dog", user="dog_person", existing=["snowboarding"])
    assert out[2].unknown == single.unknown == {"existing": ["snowboarding"]}
    assert out[2].notes == single.notes and out[0].unknown == {} and out[0].notes == []
    assert out[1].tags == rec.recommend(text="coffee time", existing=["food"], k=3).tags
    assert out[1].cold_start and "food" not in out[1].tags
    assert out[2].tags[0] == "dog"
    assert out[3].tags[0] == "cat"  # the unreadable image is dropped, the text still counts
    assert out[4] == [] and "empty post" in out[4].notes[0]
    assert report.notes["unreadable_image"] == 1 and report.counts["empty_post"] == 1
    assert "p4" in " ".join(report.examples["unreadable_image"])
    # without a report, bad posts raise naming the post
    from hashtag_kit.data.images import ImageError

    with pytest.raises(ImageError, match="p4"):
        rec.recommend_batch(posts[3:4])
    with pytest.raises(ValueError, match="post p5: empty post"):
        rec.recommend_batch(posts[4:])


def test_recommend_batch_from_cached_feature_arrays(rec):
    n = 7
    image = np.tile(np.array([[0.9, 0.0, 0.0]], "float32"), (n, 1))
    text = np.zeros((n, len(KEYWORDS)), "float32")
    text[:, KEYWORDS.index("coffee")] = 1.0
    text_mask = np.array([0, 1, 0, 1, 0, 1, 0], "float32")
    out = rec.recommend_batch(
        features={"image": image, "text": text, "text_mask": text_mask}, k=2, batch_size=3
    )
    assert [r.tags for r in out[::2]] == [["cat", "kitten"]] * 4
    assert all("coffee" in r.tags for r in out[1::2])

    class FakeFeatureSet:  # the FeatureSet contract: ids, pooled, mask, take(ids, grid)
        def __init__(self, ids, pooled, mask):
            self.ids, self.pooled, self.mask = ids, pooled, mask

        def take(self, ids, grid=True):
            pos = [self.ids.index(i) for i in ids]
            return FakeFeatureSet(ids, self.pooled[pos], self.mask[pos])

    fs = FakeFeatureSet(
        ["a", "b"], np.array([[0, 0, 0.9], [0.9, 0, 0]], "float32"), np.array([True, False])
    )
    posts = [Post("b", text="cat"), Post("a")]
    out = rec.recommend_batch(posts, features={"image": fs}, k=1)
    # post b's image is masked out (mask False), so its text decides; post a's image is blue
    assert [r.tags for r in out] == [["cat"], ["beach"]]


def test_recommend_batch_leaves_a_feature_sets_grid_untouched(rec):
    """The model reads pooled features only: the grid (49 x 1280 values a photo) is not copied
    (copying it for 120 posts took a third of `recommend_batch`'s time)."""
    from hashtag_kit.features.cache import FeatureSet

    class Untouchable:
        def __getitem__(self, rows):
            raise AssertionError("the grid was copied")

    pooled = np.array([[0, 0, 0.9], [0.9, 0, 0]], "float32")
    fs = FeatureSet(["a", "b"], pooled, Untouchable(), np.array([True, True]), {})
    out = rec.recommend_batch([Post("b"), Post("a")], features={"image": fs}, k=1)
    assert [r.tags for r in out] == [["cat"], ["beach"]]


# -- interaction: accept, history, out-of-vocabulary tags ----------------------------------------
def test_accepting_a_tag_re_ranks_the_rest_and_never_repeats_it(rec):
    r = rec
    before = r.recommend(text="coffee", k=4)
    assert before.tags[:2] == ["coffee", "food"]
    after = r.recommend(text="coffee", k=4, accepted=["#Coffee"])
    assert "coffee" not in after.tags and after.tags[0] == "food"
    # the accepted tag conditions the model: #food's score rises beyond renormalisation
    assert after[0][1] > dict(before)["food"] / (1 - dict(before)["coffee"])
    both = r.recommend(text="coffee", k=4, accepted="coffee,food")
    assert not {"coffee", "food"} & set(both.tags) and len(set(both.tags)) == len(both.tags)


def test_history_personalises_an_unknown_user_without_retraining(rec):
    r = rec
    cold = r.recommend(text="beach", user="newbie", k=3)
    assert cold.cold_start and "dog" not in cold.tags
    warm = r.recommend(text="beach", user="newbie", k=3, history=["dog", "beach"])
    assert not warm.cold_start and warm.tags[0] == "dog"  # as for the known dog_person
    known = r.recommend(text="beach", user="dog_person", k=3)
    assert known.tags == warm.tags


def test_out_of_vocabulary_and_cut_tags_are_reported(rec):
    r = rec
    out = r.recommend(
        text="cat",
        existing=["snowboarding", "cat", " ", "#2019"],  # a blank is nothing; a number is no tag
        accepted=["zzz"],
        history=["qqq", "dog", "beach", "sunset", "food", "coffee"],
    )
    assert out.unknown == {
        "existing": ["snowboarding", "#2019"],
        "accepted": ["zzz"],
        "history": ["qqq"],
    }
    text = " ".join(out.notes)
    assert "snowboarding" in text and "zzz" in text and "qqq" in text
    assert "reads 4 tags; 1 more were cut" in text  # 5 known history tags, history_len 4
    assert out.to_dict()["unknown"] == out.unknown
    assert "cat" not in out.tags


def test_cli_accept_and_history(run_dir, capsys, _standin_load):
    args = ["recommend", "--text", "coffee", "--accept", "coffee", "--history", "dog,nope"]
    assert cli_main([*args, "--user", "newbie", "--json", "--run", str(run_dir)]) == 0
    got = json.loads(capsys.readouterr().out)
    tags = [h["tag"] for h in got["hashtags"]]
    assert "coffee" not in tags and tags[0] in ("dog", "food")
    assert got["unknown"] == {"history": ["nope"]} and not got["cold_start"]


# -- command line -------------------------------------------------------------------------------
@pytest.fixture()
def _standin_load(monkeypatch):
    """Make `Recommender.load` inject the stand-in encoders (the CLI cannot pass them)."""
    real = Recommender.load.__func__

    def load(cls, run, **kw):
        return real(cls, run, image_encoder=MeanColourEncoder(), text_encoder=KeywordEncoder())

    monkeypatch.setattr(Recommender, "load", classmethod(load))


def test_cli_prints_ranked_tags_and_json(run_dir, capsys, _standin_load):
    assert cli_main(["recommend", "--text", "coffee", "-k", "2", "--run", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "#coffee" in out and "#food" in out and out.index("#coffee") < out.index("#food")
    args = ["recommend", "--text", "coffee", "--existing", "#food", "--user", "zz", "--json"]
    assert cli_main([*args, "--run", str(run_dir)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["cold_start"] and got["notes"]
    assert "food" not in [h["tag"] for h in got["hashtags"]]
    assert len(got["hashtags"]) == 6  # every non-special tag but the typed one


def test_cli_user_errors_exit_2_with_one_line(run_dir, tmp_path, capsys, _standin_load):
    cases = [
        ["recommend", "--run", str(run_dir)],  # empty post
        ["recommend", "--text", "   ", "--run", str(run_dir)],
        ["recommend", "--text", "cat", "--run", str(tmp_path / "nope")],
        ["recommend", "--image", str(tmp_path / "missing.jpg"), "--run", str(run_dir)],
        ["recommend", "--text", "cat", "-k", "zero"],
        ["recommend", "--text", "cat", "--beam-width", "3000000000", "--run", str(run_dir)],
    ]
    for argv in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith(("error:", "python -m")), err
        assert "Traceback" not in err
    assert cli_main(["recommend", "--help"]) == 0
    assert cli_main(["recommend", "--text", "cat", "--ranking", "best"]) == 2
    capsys.readouterr()
    twice = ["--image", str(tmp_path / "a.jpg"), "--image", str(tmp_path / "b.jpg")]
    assert cli_main(["recommend", *twice, "--run", str(run_dir)]) == 2
    assert "--image given twice; give it once" in capsys.readouterr().err


def test_cli_runs_with_standin_encoders(run_dir, tmp_path, capsys, _standin_load):
    red = _png(tmp_path / "red.png", RED)
    assert (
        cli_main(
            ["recommend", "--image", red, "--text", "coffee", "-k", "3", "--run", str(run_dir)]
        )
        == 0
    )
    out = capsys.readouterr().out
    for tag in ("#cat", "#coffee"):
        assert tag in out


# -- the kit's real encoders ---------------------------------------------------------------------
def _kit_model(image_dim: int, text_dim: int, seed: int = 0):
    """The kit's own HashtagEncoderDecoder (small, untrained) and its tokens."""
    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder
    from hashtag_kit.vocabulary import SPECIAL_TOKENS

    keras.utils.set_random_seed(seed)
    tokens = SPECIAL_TOKENS + TOKENS[4:]
    model = HashtagEncoderDecoder(
        vocab_size=len(tokens), image_dim=image_dim, text_dim=text_dim, units=16, embed_dim=8
    )
    model.build()
    return model, tokens


@pytest.fixture(scope="module")
def real_encoder_run(tmp_path_factory) -> Path:
    """The kit's HashtagEncoderDecoder sized for the real offline encoders (EfficientNet-Lite0
    1280-d, USE multilingual 512-d), saved with `save_stage` and the encoders' own info."""
    from hashtag_kit.encoders.image import get_image_encoder
    from hashtag_kit.encoders.text import get_text_encoder
    from hashtag_kit.stage import save_stage

    img, txt = get_image_encoder("efficientnet_lite0"), get_text_encoder("use_multilingual_v3")
    model, tokens = _kit_model(img.dim, txt.dim)
    cfg = {
        "image_encoder": img.info(),
        "text_encoder": txt.info(),
        "history_len": 4,
        "existing_len": 3,
    }
    run = tmp_path_factory.mktemp("real_enc_run")
    users = {"u1": [tokens.index("dog")]}
    save_stage(run / "02_encoder_decoder_hashtags", model, tokens, users, cfg)
    return run


def test_real_encoders_are_the_runs_own(real_encoder_run, tmp_path):
    from skimage import data as skdata

    rec = Recommender.load(real_encoder_run)
    cat = tmp_path / "chelsea.png"
    Image.fromarray(skdata.chelsea()).save(cat)
    out = rec.recommend(image=str(cat), text="cutest cat ever", k=4)
    assert len(out) == 4 and set(out.tags) <= set(TOKENS[4:]) and len(set(out.tags)) == 4
    assert rec.image_encoder.name == "efficientnet_lite0"
    assert rec.text_encoder.name == "use_multilingual_v3"
    # the features are the encoders' real ones: the same photo twice gives the same vector
    a = rec.encode_images([skdata.chelsea()])
    assert a.shape == (1, rec.image_dim) and np.abs(a).sum() > 0


def test_cli_real_subprocess(real_encoder_run):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "hashtag_kit", "recommend", "--run", str(real_encoder_run)]
    ok = subprocess.run(
        [*cmd, "--text", "cutest cat ever", "-k", "3", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    got = json.loads(ok.stdout.strip().splitlines()[-1])
    assert len(got["hashtags"]) == 3
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2
    assert "empty post" in bad.stderr and "Traceback" not in bad.stderr


def _clean_env() -> dict:
    """The environment of a user's shell: no TF_CPP_MIN_LOG_LEVEL (the Makefile and conftest set
    it), no HASHTAG_KIT_VERBOSE; this repository's package first on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "HASHTAG_KIT_VERBOSE")
    }
    env["PYTHONPATH"] = str(REPO)
    return env


RESULT_LINE = r"^(note: .+| ?\d+\. #\S+ +\d\.\d{4})$"


def test_cli_is_quiet_without_tf_cpp_min_log_level(real_encoder_run, tmp_path):
    """A cold `recommend` in a clean environment: stderr empty (no TensorFlow C++/absl line, no
    Python warning, no duplicate of a note), stdout only the result; -v brings the logs back."""
    from skimage import data as skdata

    photo = tmp_path / "chelsea.jpg"
    Image.fromarray(skdata.chelsea()).save(photo)
    cmd = [sys.executable, "-m", "hashtag_kit", "recommend", "--run", str(real_encoder_run)]
    cmd += ["--image", str(photo), "--text", "cutest cat ever", "-k", "3", "--user", "stranger"]
    env = _clean_env()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and lines[0].startswith("note: user 'stranger' is unknown"), lines
    assert all(re.match(RESULT_LINE, line) for line in lines), lines
    # -v (here with -X importtime, to see what the command imported): the kit's own log line
    # of the cold start is back on stderr; Keras's optional imports were skipped (tried, and
    # nothing of them loaded)
    loud = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:], "-v"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert "user 'stranger' is unknown to this model" in loud.stderr
    imported = {line.split("|")[-1].strip() for line in loud.stderr.splitlines() if "|" in line}
    assert "keras" in imported and "tensorflow" in imported
    # (importtime lists a skipped import too, e.g. `matplotlib.pyplot`; these are loaded only
    # by a real import)
    skipped = {"sklearn.utils", "pandas.core", "matplotlib.figure", "IPython.core", "scipy._lib"}
    assert not imported & skipped
    assert loud.stdout == done.stdout


def test_quiet_restores_what_it_changed(monkeypatch):
    """The CLI's quieting is scoped to the command: environment, logger levels and warning
    filters are as before afterwards (library users never see it)."""
    import logging
    import warnings

    from hashtag_kit.cli import quiet, without_modules

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    tf_logger = logging.getLogger("tensorflow")
    before = (tf_logger.level, list(warnings.filters))
    with quiet():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
        assert tf_logger.level == logging.ERROR
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert (tf_logger.level, list(warnings.filters)) == before
    with quiet(verbose=True):
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    with quiet():  # a value the user set is kept
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert "tabnanny" not in sys.modules  # a module nothing here imports
    with without_modules(("tabnanny",)), pytest.raises(ImportError):
        import tabnanny  # noqa: F401
    import tabnanny  # noqa: F401, F811 - importable again afterwards


def test_importing_the_kit_does_not_quiet_tensorflow():
    code = "import os, hashtag_kit.recommender; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


# -- the smoke run of notebook 02 ----------------------------------------------------------------
@pytest.mark.smoke
def test_recommender_on_the_smoke_runs_trained_model(smoke_notebook, smoke_run_dir):
    """Notebook 02's own model.keras, with the run's own encoders, on embedded test posts."""
    from hashtag_kit.run import ENCODER_DECODER, RunDir

    smoke_notebook(ENCODER_DECODER)
    rec = Recommender.load(smoke_run_dir)
    posts = RunDir(smoke_run_dir).split_posts("random")["test"]
    post = next(p for p in posts if p.has_image and p.has_text and len(p.hashtags) >= 2)
    typed = post.hashtags[:1]
    out = rec.recommend(image=post.image, text=post.text, user=post.user, existing=typed, k=5)
    assert len(out) == 5 and len(set(out.tags)) == 5
    assert set(out.tags) <= set(rec.tokens) and typed[0] not in out.tags
    assert not out.cold_start or post.user not in rec.users
    # Add: the encoder-decoder reads the accepted tag as its next input and re-ranks the rest
    first = out.tags[0]
    after = rec.recommend(image=post.image, text=post.text, user=post.user, existing=typed,
                          accepted=[first], k=5)  # fmt: skip
    assert first not in after.tags and typed[0] not in after.tags
    assert len(set(after.tags)) == len(after.tags) == 5
    rest = {t: sc for t, sc in out if t != first}
    assert [sc for t, sc in after if t in rest] != [rest[t] for t in after.tags if t in rest]
    # the batch form from the run's cached features gives lists for every post
    batch = rec.recommend_batch(posts[:8], k=3, report=RunReport())
    assert len(batch) == 8
    for r in batch:
        assert len(r) == 3 or "empty post" in " ".join(r.notes)


def test_odd_unicode_text_is_cleaned_and_noted_not_a_crash(run_dir):
    class StrictKeywordEncoder(KeywordEncoder):
        def encode(self, texts):
            for t in texts:
                t.encode("utf-8")  # as a real tokenizer: a lone surrogate raises here
            return super().encode(texts)

    rec = Recommender.load(
        run_dir, image_encoder=MeanColourEncoder(), text_encoder=StrictKeywordEncoder()
    )
    out = rec.recommend(text="my dog \ud83d", k=1)  # a lone surrogate, as argv can carry
    assert out.tags == ["dog"] and "text: invalid unicode at character 7" in out.notes[0]
    assert not rec.recommend(text="my dog", k=1).notes
    with pytest.raises(ValueError, match="empty post"):
        rec.recommend(text="\u200b\u200d \t")  # zero-width and blank only: no text at all
    report = RunReport()
    posts = [Post("u1", text="coffee \udc80 time"), Post("u2", text="my dog")]
    out = rec.recommend_batch(posts, k=1, report=report)
    assert out[0].tags == ["coffee"] and out[1].tags == ["dog"]  # one bad text fails nothing else
    assert report.notes["invalid_unicode_replaced"] == 1
    assert "post u1" in " ".join(report.examples["invalid_unicode_replaced"])


def test_a_caption_over_the_limit_is_cut_and_noted(run_dir):
    from hashtag_kit.text import MAX_TEXT_CHARS

    class LengthCheckingEncoder(KeywordEncoder):
        def encode(self, texts):
            assert all(len(t) <= MAX_TEXT_CHARS for t in texts), "a text over the limit"
            return super().encode(texts)

    rec = Recommender.load(
        run_dir, image_encoder=MeanColourEncoder(), text_encoder=LengthCheckingEncoder()
    )
    out = rec.recommend(text="dog " * MAX_TEXT_CHARS, k=1)
    assert out.tags == ["dog"]
    assert out.notes == [
        f"text: {4 * MAX_TEXT_CHARS:,} characters cut to 19,999 (at most 20,000 are read)"
    ]
    report = RunReport()
    out = rec.recommend_batch([Post("long", text="coffee " * MAX_TEXT_CHARS)], k=1, report=report)
    assert out[0].tags == ["coffee"] and report.notes["text_truncated"] == 1
    assert report.examples["text_truncated"][0].startswith("post long: ")


def test_notes_show_at_most_80_characters_of_a_user_id_or_tag(run_dir):
    """A 5-million-character user id was a 5 MB note and a 5 MB log line per request."""
    encoders = {"image_encoder": MeanColourEncoder(), "text_encoder": KeywordEncoder()}
    rec = Recommender.load(run_dir, **encoders)
    out = rec.recommend(text="dog", user="u" * 81, existing=["x" * 81] * 2 + ["y" * 81], k=1)
    assert out.notes == [
        "existing tags not in the model's vocabulary of "
        f"{len(rec.tokens)} (they cannot condition it): {'x' * 80}, {'y' * 80}",
        f"user '{'u' * 79} is unknown to this model (not among its training users): "
        "cold-start fallback, recommendations are not personalised",
    ]
    assert out.unknown == {"existing": ["x" * 81, "y" * 81]}  # in full, as given


def test_a_runs_recorded_weights_are_never_loaded_only_the_users(tmp_path, monkeypatch):
    """The trust model: paths a run recorded are data, not something to load; the user's
    own `image_weights` / `use_v4` are used."""
    import hashtag_kit.recommender as recommender_module
    from hashtag_kit.recommender import _run_encoder

    seen = []

    def fake(name, weights=None):
        seen.append((name, weights))
        return MeanColourEncoder()

    monkeypatch.setattr(recommender_module, "get_image_encoder", fake)
    monkeypatch.setattr(recommender_module, "get_text_encoder", fake)
    h5 = tmp_path / "inception_v3.h5"
    h5.write_bytes(b"weights")
    _run_encoder("image", {"name": "inception_v3", "weights": str(h5)})
    _run_encoder("image", {"name": "inception_v3", "weights": str(h5)}, "/mine/v3.h5")
    _run_encoder("image", {"name": "efficientnet_lite0", "weights": "/pkg/lite0.pth"}, "/x.h5")
    _run_encoder("text", {"name": "use_v4", "weights": str(tmp_path / "use_v4")})
    _run_encoder("text", {"name": "use_v4", "weights": str(tmp_path / "use_v4")}, "/mine/use")
    _run_encoder("text", {"name": "use_multilingual_v3", "weights": "/pkg/use.npz"})
    assert seen == [
        ("inception_v3", None),  # the run's file is not used: the default lookup
        ("inception_v3", "/mine/v3.h5"),  # the user's
        ("efficientnet_lite0", None),  # the packaged weights (verified by digest)
        ("use_v4", None),
        ("use_v4", "/mine/use"),
        ("use_multilingual_v3", None),
    ]


def test_users_json_of_the_wrong_shape_is_one_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    stage = write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    for bad in ('["dog_person"]', '{"u": "dog"}', '{"u": [1.5]}', '{"u": [999]}'):
        (stage / "users.json").write_text(bad)
        with pytest.raises(IncompatibleRunError, match="users.json"):
            Recommender.load(run)
        assert cli_main(["recommend", "--text", "dog", "--run", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "users.json" in err and "\n" not in err


def test_cli_says_in_one_line_when_the_runs_encoder_is_unavailable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached InceptionV3 here
    config = {
        **CONFIG,
        "image_encoder": {"name": "inception_v3", "weights": str(tmp_path / "gone.h5"), "dim": 3},
    }
    run = tmp_path / "run"
    write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model(), config=config)
    red = _png(tmp_path / "red.png", RED)
    assert cli_main(["recommend", "--image", red, "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert "InceptionV3" in err or "inception" in err.lower()


def test_k_and_beam_width_out_of_range_are_one_clear_error_or_every_tag(rec):
    """From an audit: a huge -k or --beam-width reached TensorFlow (negative dimensions, OOM)."""
    every = rec.recommend(text="cat", k=10**12)  # more than the vocabulary: every tag
    assert len(every) == len(TOKENS) - N_SPECIAL and len(set(every.tags)) == len(every)
    assert rec.recommend(text="cat", k=2.0).tags == rec.recommend(text="cat", k=2).tags
    for bad in ({"k": 2.5}, {"k": "3"}, {"k": True}, {"k": float("inf")}, {"beam_width": 65}):
        with pytest.raises(ValueError, match="k must|beam_width must"):
            rec.recommend(text="cat", **bad)
    with pytest.raises(ValueError, match="beam_width must be at most 64"):
        rec.recommend_batch(features={"text": np.zeros((1, len(KEYWORDS)))}, beam_width=3 * 10**9)


def test_a_history_with_no_usable_tag_is_ignored_with_a_note(rec):
    """An empty history ("" or ",,,") used to replace a known user's stored one silently, and
    an unknown user's answer then claimed to be personalised (cold_start False)."""
    stored = rec.recommend(text="beach", user="dog_person", k=3)
    for empty in ("", ",,,", "#", ["qqq"]):
        got = rec.recommend(text="beach", user="dog_person", k=3, history=empty)
        assert got.tags == stored.tags and not got.cold_start
        assert any("history has no tag" in n and "stored history is used" in n for n in got.notes)
        cold = rec.recommend(text="beach", user="nobody", k=3, history=empty)
        assert cold.cold_start and any("history has no tag" in n for n in cold.notes)
    with pytest.raises(ValueError, match="history must be tags"):
        rec.recommend(text="beach", history=5)


def test_thousands_of_typed_tags_cost_linear_time_and_a_short_note(rec):
    """A web form carried 130,000 tags; de-duplicating them was quadratic (53 s of CPU)."""
    many = ",".join(f"t{i}" for i in range(100_000))
    t0 = time.perf_counter()
    got = rec.recommend(text="cat", existing=many, k=3)
    assert time.perf_counter() - t0 < 20  # quadratic: far over a minute
    (note,) = [n for n in got.notes if n.startswith("existing tags not in")]
    assert note.endswith("and 99980 more") and len(note) < 400


def test_model_config_of_the_wrong_shape_is_one_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    stage = write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    image = CONFIG["image_encoder"]
    for bad in (
        {"image_encoder": "x"},
        {"image_encoder": [1, 2]},
        {"text_encoder": {"dim": 3}},  # no name
        {"image_encoder": {**image, "dim": "big"}},
        {"history_len": "x"},
        {"existing_len": -1},
    ):
        (stage / "model_config.json").write_text(json.dumps({**CONFIG, **bad}))
        with pytest.raises(IncompatibleRunError, match="model_config.json"):
            Recommender.load(run)
        assert cli_main(["recommend", "--text", "dog", "--run", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "model_config.json" in err and "\n" not in err


def test_run_files_that_are_not_utf8_or_not_regular_files_are_named(tmp_path, capsys):
    run = tmp_path / "run"
    stage = write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    for name in ("model_config.json", "users.json", "tags.json"):
        good = (stage / name).read_bytes()
        (stage / name).write_bytes(b'{"a": "caf\xe9"}')
        with pytest.raises(IncompatibleRunError, match=f"{name} is not UTF-8 text"):
            Recommender.load(run)
        (stage / name).unlink()
        os.mkfifo(stage / name)  # reading it would block forever
        assert cli_main(["recommend", "--text", "dog", "--run", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{name} is not a regular file" in err and "\n" not in err
        (stage / name).unlink()
        (stage / name).write_bytes(good)
    Recommender.load(run)  # whole again


def test_tags_json_tokens_must_be_strings(tmp_path):
    run = tmp_path / "run"
    stage = write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    for bad in (None, 5, [1], ""):
        (stage / "tags.json").write_text(json.dumps({"tokens": [*TOKENS[:-1], bad]}))
        with pytest.raises(IncompatibleRunError, match="tags.json.*non-empty string"):
            Recommender.load(run)


def test_feature_arrays_of_the_wrong_shape_or_with_nan_are_refused(rec):
    for bad, match in (
        (np.zeros((2, 7)), r"must be \(N, 3\)"),
        (np.full((2, 3), np.nan), "NaN"),
        (np.array([["a", "b", "c"]]), "could not convert"),
    ):
        with pytest.raises(ValueError, match=match):
            rec.recommend_batch(features={"image": bad})
    for bad, match in (
        (np.array([["x"] * 3] * 3, dtype=object), "hold numbers"),
        (b"a.jpg", "bytes"),
    ):
        with pytest.raises(ValueError, match=match):
            rec.recommend(image=bad)
