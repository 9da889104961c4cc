"""`python -m hashtag_kit evaluate tweets`: the protocol on hand-made posts, the pipeline on a
hand-written TweetEval-format folder, and the real TweetEval run (realdata) whose written
metrics.json must show the text-only encoder-decoder beating popularity on Hit@5."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hashtag_kit.cli import main as cli_main
from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.tweets import STAGE, first_step_ranking, split_tweets
from hashtag_kit.report import RunReport


def _post(i, tags, split, text="some words"):
    return Post(id=f"{split}-{i}", hashtags=tags, text=text, meta={"split": split})


def test_split_tweets_protocol():
    posts = [_post(i, ["beach", "sun"] if i % 2 else ["beach"], "train") for i in range(6)]
    posts += [_post(6, ["rare"], "train"), _post(7, ["beach"], "train", text="  ")]
    posts += [_post(0, ["beach", "rare"], "val"), _post(1, ["rare"], "val")]
    posts += [_post(0, ["sun", "beach"], "test"), _post(1, ["nowhere"], "test")]
    posts += [Post(id="x", hashtags=["beach"], text="t", meta={"split": "other"})]
    report = RunReport()
    parts, vocab, protocol = split_tweets(posts, limit=0, min_tag_freq=3, report=report)
    # beach is used in 7 training posts (one with blank text), sun in 3, rare in 1
    assert vocab == ["beach", "sun"]
    assert [p.hashtags for p in parts["test"]] == [["sun", "beach"]]
    assert [p.hashtags for p in parts["val"]] == [["beach"]]  # out-of-vocabulary tag dropped
    assert len(parts["train"]) == 6
    assert protocol["n_train_loaded"] == 8 and protocol["n_train"] == 6
    assert protocol["n_train_without_vocab_tag"] == 1 and protocol["n_train_blank_text"] == 1
    assert protocol["n_test_without_vocab_tag"] == 1 and protocol["min_tag_freq"] == 3
    assert report.counts["tweets_unknown_split"] == 1
    assert report.counts["train_blank_text"] == 1
    # --limit caps the training posts (val/test at limit // 4) before the vocabulary is made
    parts, vocab, protocol = split_tweets(posts, limit=4, min_tag_freq=2, report=RunReport())
    assert protocol["n_train_loaded"] == 4 and protocol["n_test_loaded"] == 1
    assert vocab == ["beach", "sun"]
    with pytest.raises(ValueError, match="no hashtag is used 50"):
        split_tweets(posts, limit=0, min_tag_freq=50, report=RunReport())


def test_first_step_ranking_is_the_decoders_first_distribution():
    import keras

    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, dummy_inputs
    from hashtag_kit.vocabulary import N_SPECIAL, SPECIAL_TOKENS, START

    keras.utils.set_random_seed(0)
    model = HashtagEncoderDecoder(vocab_size=N_SPECIAL + 6, image_dim=4, text_dim=5, units=8)
    model.build()
    tokens = SPECIAL_TOKENS + list("abcdef")
    x = {**dummy_inputs(model, n=3), "history": np.zeros((3, 1), "int32")}  # no users
    ranked = first_step_ranking(model, x, tokens, k=4)
    assert [len(r) for r in ranked] == [4, 4, 4]
    assert all(t in "abcdef" and len(set(r)) == 4 for r in ranked for t in r)
    logits = np.asarray(model({**x, "decoder_in": np.full((3, 1), START, "int32")}))[:, 0]
    for row, r in zip(logits, ranked, strict=True):
        assert r[0] == tokens[N_SPECIAL + int(np.argmax(row[N_SPECIAL:]))]


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["tweets", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "tweeteval" in capsys.readouterr().err


def test_flickr8k_after_an_option_is_refused_not_run_as_tweets(tmp_path, capsys):
    """`evaluate flickr8k` takes its own options and comes first; named after an option it used
    to fall through to the TweetEval evaluation."""
    out = tmp_path / "o"
    assert main(["--out", str(out), "flickr8k"]) == 2
    assert "invalid choice: 'flickr8k'" in capsys.readouterr().err
    assert not out.exists()


PLACES = {
    "beach": ("waves and sand all day @ Venice Beach", ["beach", "venice", "la"]),
    "coffee": ("morning espresso and a croissant @ Blue Bottle Coffee", ["coffee", "cafe"]),
    "game": ("what a match tonight, great seats @ Dodger Stadium", ["dodgers", "baseball", "la"]),
}


def _write_tweets(folder, n_per_split):
    folder.mkdir(parents=True)
    for split, n in n_per_split.items():
        lines = []
        for i in range(n):
            text, tags = list(PLACES.values())[i % 3]
            lines.append(f"{text} {' '.join('#' + t for t in tags[: 1 + i % len(tags)])}")
        (folder / f"emoji_{split}_text.txt").write_text("\n".join(lines) + "\n")


def test_pipeline_on_a_small_tweeteval_folder(tmp_path, capsys):
    _write_tweets(tmp_path / "data" / "tweeteval", {"train": 60, "val": 12, "test": 12})
    out = tmp_path / "out"
    argv = ["tweets", "--data", str(tmp_path / "data"), "--out", str(out)]
    assert main([*argv, "--limit", "0", "--min-tag-freq", "2", "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "popularity" in printed and "Hit@5" in printed
    m = json.loads((out / STAGE / "metrics.json").read_text())
    assert m["split"] == "tweeteval" and m["dataset"] == "tweeteval" and m["seed"] == 0
    assert set(m["models"]) == {"popularity", "encoder-decoder text", "encoder-decoder text, beam"}
    for entry in m["models"].values():
        assert {"family", "description", "paper", "ranking", "variant"} <= set(entry)
        assert entry["ranking"]["n_posts"] == 12
    ed = m["models"]["encoder-decoder text"]
    assert ed["trainable_params"] > 0 and len(ed["history"]["loss"]) == 2
    assert ed["variant"]["modality"] == "text"
    proto = m["extra"]["protocol"]
    assert proto["n_train"] == 60 and proto["n_test"] == 12 and proto["min_tag_freq"] == 2
    assert proto["text_encoder"]["name"] == "use_multilingual_v3"
    # the saved model is served by the Recommender (text only)
    from hashtag_kit.recommender import Recommender

    rec = Recommender.load(out / STAGE)
    assert len(rec.recommend(text="espresso time @ Blue Bottle Coffee", k=3)) == 3


def test_a_failing_notebook_cell_is_reported_as_reproduce_reports_it(tmp_path, capsys):
    """Settings that leave no tag (the notebook's own ValueError): exit status 1, the failing
    cell and its error, where the executed notebook is; a papermill traceback before."""
    _write_tweets(tmp_path / "data" / "tweeteval", {"train": 20, "val": 4, "test": 4})
    out = tmp_path / "out"
    argv = ["tweets", "--data", str(tmp_path / "data"), "--out", str(out), "--min-tag-freq", "99"]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert f"FAILED; the executed notebook with the error is in {out / 'executed'}" in printed
    assert "failing cell:" in printed and "ValueError: no hashtag is used 99+ times" in printed
    assert (out / "executed" / "07_tweeteval.ipynb").is_file()


@pytest.mark.realdata
def test_real_tweeteval_encoder_decoder_beats_popularity(real_data, tmp_path):
    """The subset run (12,000 train tweets read, tags used 20+ times): Hit@5 from metrics.json."""
    out = tmp_path / "tweets-eval"
    assert main(["tweets", "--data", str(real_data), "--out", str(out)]) == 0
    m = json.loads((out / STAGE / "metrics.json").read_text())
    hit5 = {name: e["ranking"]["hit_rate"]["5"] for name, e in m["models"].items()}
    assert hit5["encoder-decoder text"] > hit5["popularity"] + 0.02, hit5
    # what `Recommender.recommend` returns by default (beam search, filled after `<end>`)
    assert hit5["encoder-decoder text, beam"] > hit5["popularity"] + 0.02, hit5
    proto = m["extra"]["protocol"]
    assert proto["n_train"] > 3000 and proto["n_test"] > 500 and proto["n_tags"] > 50
    assert m["models"]["popularity"]["ranking"]["n_posts"] == proto["n_test"]


def main(argv: list[str]) -> int:
    """`python -m hashtag_kit evaluate ...`"""
    return cli_main(["evaluate", *argv])
