"""Hashtag text processing: extraction, normalisation, stripping, segmentation, stopwords."""

from __future__ import annotations

import doctest

import pytest

import hashtag_kit.text as T
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport


def test_doctests():
    assert doctest.testmod(T).failed == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Golden hour #Beach #sunset!", ["beach", "sunset"]),
        ("no tags here", []),
        ("", []),
        (None, []),
        ("repeat #Love #love #LOVE", ["love"]),
        # '#' glued to a word or to another tag (Instagram cross-posts) still starts a tag
        ("Netflix#lit #Trunks#WestHollywood#WeHo", ["lit", "trunks", "westhollywood", "weho"]),
        ("##double", ["double"]),
        # pure numbers are not hashtags; digits inside a tag are kept
        ("we are #1 in #2019 #summer2019", ["summer2019"]),
        # URLs, HTML entities, C#
        ("see http://x.org/page#top and &#39;quoted&#39; in C# #real", ["real"]),
        # unicode letters, marks, underscore; fullwidth '#' and letters
        ("#café #東京 #नमस्ते #snake_case", ["café", "東京", "नमस्ते", "snake_case"]),
        ("＃ｂｅａｃｈ ﹟Sea", ["beach", "sea"]),
        # zero-width characters inside a tag are dropped, emoji and variation selectors end it
        ("#beach\u200blove #sun\ufe0f☀️ #dog🐶", ["beachlove", "sun", "dog"]),
        # trailing punctuation and ellipsis end the tag
        ("#happy!!! #tired… #ok.", ["happy", "tired", "ok"]),
    ],
)
def test_extract_hashtags(text, expected):
    assert T.extract_hashtags(text) == expected


def test_extract_keeps_repeats_when_asked():
    assert T.extract_hashtags("#a1 #A1 #b", unique=False) == ["a1", "a1", "b"]


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("#Beach", "beach"),
        ("ＢＥＡＣＨ", "beach"),
        ("dining table", "diningtable"),
        ("t-shirt", "tshirt"),
        ("#love!!!", "love"),
        ("_love_", "love"),
        ("be\u200bach\ufeff", "beach"),
        ("Straße", "strasse"),
        ("#2019", ""),
        ("!!!", ""),
        ("", ""),
        ("🌊", ""),
    ],
)
def test_normalise_hashtag(tag, expected):
    assert T.normalise_hashtag(tag) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Sunset walk #beach #sunset @ Venice Beach", "Sunset walk @ Venice Beach"),
        ("#only #tags", ""),
        ("We are #1!", "We are 1!"),
        ("I love #NYC! And #sun, #sea.", "I love! And,."),
        ("nul\x00 #x char", "nul char"),
        ("Tags #a #b… more", "Tags… more"),
        ("My show on Netflix#lit now", "My show on Netflix now"),
        ("  spaced\t\n out  #x ", "spaced out"),
        ("keep http://x.org/a#b url", "keep http://x.org/a#b url"),
        (None, ""),
    ],
)
def test_strip_hashtags(text, expected):
    assert T.strip_hashtags(text) == expected


def test_stripped_text_never_contains_a_tag():
    text = "Fun ##day #a_b #ｆｕｌｌ Netflix#lit #1 #x… ok"
    stripped = T.strip_hashtags(text)
    assert T.extract_hashtags(stripped) == []
    assert "#" not in stripped


def test_hashtag_spans_point_into_raw_text():
    text = "x #Sea y ＃Sun"
    spans = T.hashtag_spans(text)
    assert [text[s.start : s.end] for s in spans] == ["#Sea", "＃Sun"]
    assert [s.tag for s in spans] == ["sea", "sun"]


def test_parse_hashtag_field():
    assert T.parse_hashtag_field("#Beach, sunset;sea #Sea") == ["beach", "sunset", "sea"]
    assert T.parse_hashtag_field(["Dining Table", "#Cat", "", "!!"]) == ["diningtable", "cat"]
    assert T.parse_hashtag_field(None) == []


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("beachlove", ["beach", "love"]),
        ("#BeachLove", ["beach", "love"]),
        ("sunset_lover", ["sunset", "lover"]),
        ("photooftheday", ["photo", "of", "the", "day"]),
        ("throwbackthursday", ["throwback", "thursday"]),
        ("weekendvibes", ["weekend", "vibes"]),
        # short known words are never split
        ("often", ["often"]),
        ("together", ["together"]),
        ("beach", ["beach"]),
        # unknown chunks are not chopped into letters
        ("tbt", ["tbt"]),
        ("beachy", ["beachy"]),
        ("kingston", ["kingston"]),  # unknown: not "king" + "ston"
        ("iloveyou", ["i", "love", "you"]),
        ("takeabreak", ["take", "a", "break"]),
        # digits and non-Latin scripts come back whole
        ("summer2019", ["summer2019"]),
        ("東京タワー", ["東京タワー"]),
        ("café", ["café"]),
        ("cafe\u0301", ["café"]),
        ("", []),
        ("#!!", []),
    ],
)
def test_segment_hashtag(tag, expected):
    assert T.segment_hashtag(tag) == expected


def test_segmentation_learns_words_from_a_corpus():
    # "tinyepicwestern" is not splittable with the base list alone ...
    assert T.segment_hashtag("tinyepicwestern") == ["tinyepicwestern"]
    # ... but the dataset's own captions teach the words
    wf = T.WordFrequencies.from_texts(["a tiny epic game", "epic western", "tiny house"] * 3)
    assert "tiny" in wf and "epic" in wf
    assert T.segment_hashtag("tinyepicwestern", wf) == ["tiny", "epic", "western"]
    # an unknown word made of two known ones is split by the base list, not once the
    # dataset's captions use it
    assert T.segment_hashtag("carpet") == ["car", "pet"]
    captions = T.WordFrequencies.from_texts(["a red carpet in the hall", "the carpet is soft"])
    assert T.segment_hashtag("redcarpet", captions) == ["red", "carpet"]
    corpus_only = T.WordFrequencies.from_texts(["surf waves"], base=False)
    assert len(corpus_only) == 2 and "the" not in corpus_only


def test_base_word_list_is_ranked():
    wf = T.WordFrequencies.base()
    assert len(wf) > 1000
    assert wf.cost("the") < wf.cost("beach") < wf.cost("qzxv")


def test_tokenize():
    assert T.tokenize("Don’t STOP! Surfing @ Malibu, 2019 #beach 🌊") == [
        "don't",
        "stop",
        "surfing",
        "malibu",
        "2019",
        "beach",
    ]
    assert T.tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
    assert T.tokenize(None) == [] and T.tokenize("...") == []


@pytest.mark.parametrize(
    "word, expected",
    [
        ("dogs", "dog"),
        ("puppies", "puppy"),
        ("benches", "bench"),
        ("dresses", "dress"),
        ("men", "man"),
        ("women", "woman"),
        ("children", "child"),
        ("feet", "foot"),
        ("geese", "goose"),
        ("shelves", "shelf"),
        ("dog", None),
        ("grass", None),
        ("sheep", None),
        ("", None),
    ],
)
def test_singular(word, expected):
    assert T.singular(word) == expected


def test_stopwords_source_and_removal():
    words, source = T.load_stopwords()
    assert source in ("nltk", "hashtag_kit")
    assert {"the", "and", "of", "a"} <= words
    assert "beach" not in words
    assert T.remove_stopwords(["The", "dog", "and", "a", "beach"]) == ["dog", "beach"]
    assert T.remove_stopwords(["x", "y"], stopwords={"x"}) == ["y"]


def test_shipped_stopwords_used_without_nltk_data(monkeypatch, tmp_path):
    monkeypatch.setattr(T, "_nltk_stopword_file", lambda: None)
    T.load_stopwords.cache_clear()
    try:
        assert T.load_stopwords()[1] == "hashtag_kit"
        assert len(T.load_stopwords()[0]) > 100
        fake = tmp_path / "english"
        fake.write_text("alpha\nbeta\n")
        monkeypatch.setattr(T, "_nltk_stopword_file", lambda: fake)
        T.load_stopwords.cache_clear()
        assert T.load_stopwords() == ({"alpha", "beta"}, "nltk")
    finally:
        monkeypatch.undo()
        T.load_stopwords.cache_clear()


def test_filter_rare_tags_counts_drops():
    """preprocess drops tags on fewer than min_tag_freq posts, then posts left without one."""
    from hashtag_kit.preprocess import filter_rare_tags

    posts = [
        Post("a", ["beach", "rare1"], text="x"),
        Post("b", ["beach", "sea"], text="y"),
        Post("c", ["sea"], text="z"),
        Post("d", ["rare2"], text="w"),
        Post("e", [], text="v"),
    ]
    report = RunReport()
    out = filter_rare_tags(posts, 2, report)
    assert [(p.id, p.hashtags) for p in out] == [
        ("a", ["beach"]),
        ("b", ["beach", "sea"]),
        ("c", ["sea"]),
    ]
    assert report.counts["post_without_frequent_hashtags"] == 2  # d, e
    assert report.notes["rare_tags_dropped"] == 1  # rare1, rare2: one line
    assert posts[0].hashtags == ["beach", "rare1"]  # inputs are not modified
    kept = filter_rare_tags(posts, 2, RunReport(), require_hashtags=False)
    assert [(p.id, p.hashtags) for p in kept][3:] == [("d", []), ("e", [])]


def test_invariants_on_random_text():
    """Seeded fuzz: stripping leaves no tag behind; tags are normalised, non-empty, idempotent."""
    import random

    rng = random.Random(0)
    pool = list("ab Z9_#＃﹟&.,!…@-'") + ["\u200b", "\ufe0f", "é", "e\u0301", "東", "न", "ि"]
    pool += ["🌊", "http://x.org/a#b ", "www.y.com#c ", "\n", "\t", "#1", "&#39;", "ß", "İ"]
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        tags = T.extract_hashtags(text)
        for tag in tags:
            assert tag and T.normalise_hashtag(tag) == tag
            assert any(c.isalpha() for c in tag)
        stripped = T.strip_hashtags(text)
        assert T.extract_hashtags(stripped) == [], (text, stripped)
        assert stripped == stripped.strip() and "  " not in stripped
        assert "\x00" not in stripped


def test_clean_str_cuts_a_text_over_the_limit_at_a_word_and_counts_it():
    m, r = T.MAX_TEXT_CHARS, RunReport()
    assert T.clean_str("a" * m, r, "post x") == "a" * m  # at the limit: untouched
    assert T.clean_str("cat " * m, r, "post 1") == ("cat " * (m // 4)).strip()  # whole words
    assert T.clean_str("x" * (m + 5), r, "post 2") == "x" * m  # no space: cut at the limit
    kept = T.clean_str("ab " * m, None)  # no report: still cut
    assert kept == ("ab " * (m // 3 + 1)).strip() and len(kept) == m  # a word ends at the limit
    assert r.notes["text_truncated"] == 2  # "post x", at the limit, is not counted
    assert r.examples["text_truncated"] == [
        f"post 1: {4 * m:,} characters cut to 19,999 (at most 20,000 are read)",
        f"post 2: {m + 5:,} characters cut to 20,000 (at most 20,000 are read)",
    ]


def test_clean_str_reads_only_the_start_of_a_huge_text():
    """Each cleaning step copies the text, and splitting it lists every word: a 100-million-
    character caption took clean_str 1.6 GB. Now it reads the first 4 x MAX_TEXT_CHARS."""
    import tracemalloc

    m, r = T.MAX_TEXT_CHARS, RunReport()
    text = "ab \t" * 1_500_000  # 6 million characters, 1.5 million words
    tracemalloc.start()
    try:
        kept = T.clean_str(text, r, "post big")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kept == ("ab " * (m // 3 + 1)).strip()
    assert r.examples["text_truncated"] == [
        "post big: 6,000,000 characters cut to 20,000 (at most 20,000 are read)"
    ]
    assert peak < 5_000_000, f"{peak:,} bytes traced"  # every word listed: 93 MB
    spaces = " " * (5 * m) + "tail"  # nothing in the part read: cut to nothing, still counted
    assert T.clean_str(spaces, r, "post blank") is None and r.notes["text_truncated"] == 2


@pytest.mark.parametrize("unit, n", [("#a ", 60_000), ("www.a #b ", 120_000)])
def test_tags_of_a_long_text_are_found_and_stripped_in_linear_time(unit, n):
    """Quadratic before: 6,667 tags in a row took strip_hashtags 1.2 s (its gap regex tried
    every position of the run), 4,444 URLs and tags hashtag_spans about 1 s (every URL checked
    for every tag); a posts file of such captions took hours. Now 40 ms at these lengths, where
    the quadratic code took several seconds: the bound leaves a wide margin either way."""
    import time

    text = (unit * n)[:n]
    t0 = time.perf_counter()
    stripped = T.strip_hashtags(text)
    took = time.perf_counter() - t0
    assert "#" not in stripped and stripped.count("www.a") == text.count("www.a")
    assert took < 0.5, f"{took:.2f} s for {n:,} characters"


def test_a_long_run_of_hashes_is_read_in_linear_time():
    """The tag regex was tried from every '#' of a run, each try scanning to the run's end: a
    caption of 20,000 "#" took 17 s. Now 5 ms."""
    import time

    text = "#" * 20_000 + " #" * 3 + "##a"
    t0 = time.perf_counter()
    assert T.extract_hashtags(text) == ["a"] and T.strip_hashtags(text) == "#" * 20_000 + " # #"
    took = time.perf_counter() - t0
    assert took < 0.5, f"{took:.2f} s"
