"""The one vocabulary of the kit: special-token ids, fitting, JSON, and every user of it."""

from __future__ import annotations

import json

import pytest

from hashtag_kit.captioning import CaptionTokenizer
from hashtag_kit.models.attention_classifier import WordVocabulary
from hashtag_kit.vocabulary import END, PAD, SPECIAL_TOKENS, START, UNK, Vocabulary


def test_convention_fit_and_json(tmp_path):
    assert SPECIAL_TOKENS == ["<pad>", "<start>", "<end>", "<unk>"]
    assert (PAD, START, END, UNK) == (0, 1, 2, 3)
    v = Vocabulary.fit(["b", "a", "b", "c", "a", "b"], min_count=2)
    assert v.tokens == SPECIAL_TOKENS + ["b", "a"] and v.size == len(v) == 6
    assert v.id("a") == 5 and v.id("c") == UNK
    assert Vocabulary.of(["x", "<pad>", "y", "x"], max_size=1).tokens == SPECIAL_TOKENS + ["x"]
    path = v.save(tmp_path / "tags.json")
    assert json.loads(path.read_text()) == {"tokens": v.tokens}  # the layout of tags.json
    assert Vocabulary.load(path).tokens == v.tokens
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="each token once"):
        Vocabulary(SPECIAL_TOKENS + ["a", "a"])


def test_every_vocabulary_shares_the_special_ids(tmp_path):
    from hashtag_kit.data.posts import Post
    from hashtag_kit.models.cnn_rnn import tag_sequences

    assert CaptionTokenizer.fit(["a dog"], min_count=1).encode("a cat") == [START, 4, UNK, END]
    words = WordVocabulary.fit(["a dog", "dog"], min_count=1)
    assert words.encode(["dog cat"], 3).tolist() == [[4, UNK, PAD]]
    assert WordVocabulary.load(words.save(tmp_path / "w.json")).tokens == words.tokens
    x, y = tag_sequences([Post("p", ["sea"])], ["sun", "sea"])
    assert x[0, :2].tolist() == [START, 5] and y[0, :2].tolist() == [5, END]
    old = tmp_path / "word_vocab.json"  # earlier kits: words only, <unk> = 1
    old.write_text('{"words": ["a", "dog"]}')
    with pytest.raises(ValueError, match="word_vocab.json is not a vocabulary of this kit"):
        WordVocabulary.load(old)
