"""Captions -> hashtags (Flickr8k hashtag paper): keywords, vocabulary matching, scoring."""

from __future__ import annotations

import pytest

from hashtag_kit.baselines.caption_hashtags import (
    caption_keywords,
    captions_to_hashtags,
    evaluate_caption_hashtags,
    match_vocab,
)
from hashtag_kit.data.posts import Post


def test_keywords_drop_stopwords_punctuation_and_repeats():
    assert caption_keywords("A dog and a DOG, on the beach at 5 pm!") == ["dog", "beach", "pm"]
    assert caption_keywords("") == [] and caption_keywords(None) == []
    assert caption_keywords("a café in the ｓｎｏｗ") == ["café", "snow"]  # NFKC via normalise


def test_several_captions_rank_by_agreement_then_order():
    caps = ["a red boat on the sea", "a boat at sunset", "the boat and the sea"]
    assert captions_to_hashtags(caps) == ["boat", "sea", "red", "sunset"]
    assert captions_to_hashtags(caps, k=2) == ["boat", "sea"]


def test_vocabulary_matching_uses_singulars():
    vocab = {"dog", "beach", "puppy", "bus"}
    assert match_vocab("dogs", vocab) == "dog" and match_vocab("puppies", vocab) == "puppy"
    assert match_vocab("buses", vocab) == "bus" and match_vocab("grass", vocab) is None
    assert captions_to_hashtags("two dogs on grass near buses", vocab=vocab) == ["dog", "bus"]
    # irregular plurals find their tag; a final s is not cut when the result is no tag
    vocab = {"man", "child", "foot", "tennis", "hoodie"}
    assert captions_to_hashtags("men and children on feet", vocab=vocab) == ["man", "child", "foot"]
    assert match_vocab("tennis", vocab) == "tennis" and match_vocab("bus", vocab) is None
    # the loader's second guess too, so a caption's "hoodies" finds Flickr8k's #hoodie
    assert match_vocab("hoodies", vocab) == "hoodie"


def test_evaluation_against_post_tags():
    posts = [
        Post("a", hashtags=["dog", "beach", "love"]),
        Post("b", hashtags=["boat"]),
        Post("c", hashtags=[]),
    ]
    caps = {"a": "a dog on the beach", "b": "a red car", "c": "a cat"}
    m = evaluate_caption_hashtags(posts, caps, ks=(1, 2))
    assert m["n_posts"] == 2 and m["n_posts_without_tags"] == 1
    assert m["hit_rate"]["1"] == pytest.approx(0.5)  # post a: dog is a hit; post b: red is not
    assert m["precision"]["2"] == pytest.approx((2 / 2 + 0) / 2)
    assert m["recall"]["2"] == pytest.approx((2 / 3 + 0) / 2)
    with pytest.raises(ValueError, match="'c'"):
        evaluate_caption_hashtags(posts, {"a": "x", "b": "y"})


@pytest.mark.realdata
def test_reference_captions_to_coco_object_tags(real_data):
    from hashtag_kit.data import load_dataset
    from hashtag_kit.report import RunReport

    posts = load_dataset("coco", real_data / "coco-mini", RunReport())
    assert len(posts) == 159  # images with both captions and objects
    caps = {p.id: p.captions for p in posts}
    m = evaluate_caption_hashtags(posts, caps, ks=(1, 5, 10))
    # humans name the objects they see: the keywords hit the object tags for most photos
    assert m["hit_rate"]["5"] > 0.5
    vocab = {t for p in posts for t in p.hashtags}
    m_vocab = evaluate_caption_hashtags(posts, caps, ks=(1, 5), vocab=vocab)
    assert m_vocab["precision"]["1"] > m["precision"]["1"]
