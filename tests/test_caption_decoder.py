"""Caption decoders: shapes, .keras round trip, one training step, decoding, repetition penalty."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from hashtag_kit.captioning import (
    CaptionBatches,
    CaptionTokenizer,
    build_caption_data,
    caption_loss,
    caption_words,
    count_repeated_trigrams,
    most_frequent_reference,
    split_posts,
    train_caption_model,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.decoding import trigram_penalty
from hashtag_kit.models.caption_decoder import (
    MergeCaptionModel,
    ShowAttendTellDecoder,
    decode_captions,
    doubly_stochastic_penalty,
    generate_captions,
)
from hashtag_kit.report import RunReport
from hashtag_kit.stage import STAGE_FORMAT_VERSION, load_stage, save_stage
from hashtag_kit.testing import check_layer
from hashtag_kit.text import MAX_TEXT_WORDS
from hashtag_kit.vocabulary import END, SPECIAL_TOKENS, START, UNK

RNG = np.random.default_rng(0)
GRID = RNG.normal(size=(3, 49, 32)).astype("float32")
TOKENS = RNG.integers(0, 20, size=(3, 6)).astype("int32")


def test_show_attend_tell_shapes_roundtrip_and_training_step():
    keras.utils.set_random_seed(0)
    model = ShowAttendTellDecoder(vocab_size=20, embed_dim=8, units=16, attention_units=8)
    # regions 32*16+16, init h/c 2*(16*16+16), attention 16*8+8 + 16*8 + 8, gate 17,
    # embedding 20*8, LSTM 4*16*(8+16+16)+4*16, deep output 16*8+8 + 16*8, words 8*20+20
    check_layer(model, [GRID, TOKENS], (3, 6, 20), expected_trainable_params=4589)
    logits, alphas = model([GRID, TOKENS], return_attention=True)
    assert tuple(alphas.shape) == (3, 6, 49)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alphas).sum(-1), 1.0, atol=1e-5)


def test_merge_model_shapes_roundtrip_and_training_step():
    keras.utils.set_random_seed(0)
    model = MergeCaptionModel(vocab_size=20, embed_dim=8, units=16)
    # image 32*16+16, embedding 20*8, LSTM 4*16*(8+16)+4*16, merge 16*16+16, words 16*20+20
    check_layer(model, [GRID, TOKENS], (3, 6, 20), expected_trainable_params=2900)


def test_saved_stage_decodes_identically(tmp_path):
    """Notebook 04's stage files: two decoders and their tokenizer through the stage contract."""
    keras.utils.set_random_seed(1)
    model = ShowAttendTellDecoder(vocab_size=40, embed_dim=8, units=16, attention_units=8)
    model([GRID, TOKENS])
    tok = CaptionTokenizer(SPECIAL_TOKENS + [f"w{i}" for i in range(36)], min_count=3)
    merge = MergeCaptionModel(vocab_size=40, embed_dim=8, units=16)
    merge([GRID, TOKENS])
    models = {"caption_model.keras": model, "merge_caption_model.keras": merge}
    save_stage(tmp_path, models, tok, config={"max_length": 7}, vocab_file="tok.json")
    loaded, tok2, users, config = load_stage(
        tmp_path,
        vocab_file="tok.json",
        users_file=None,
        vocabulary_class=CaptionTokenizer,
        model_file="caption_model.keras",
    )
    assert tok2.tokens == tok.tokens and tok2.min_count == 3 and users is None
    assert config["max_length"] == 7 and config["format_version"] == STAGE_FORMAT_VERSION
    with pytest.raises(ValueError, match="40 token ids, the vocabulary 5"):
        save_stage(tmp_path / "x", model, CaptionTokenizer(SPECIAL_TOKENS + ["a"]))
    a, att_a = decode_captions(model, GRID, max_length=7, return_attention=True, **IDS)
    b, att_b = decode_captions(loaded, GRID, max_length=7, return_attention=True, **IDS)
    assert a == b
    for x, y in zip(att_a, att_b, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


IDS = {"start_id": START, "end_id": END}  # the vocabulary's <start> / <end>


def greedy(model, grid, **kw):
    return decode_captions(model, grid, beam_width=1, **IDS, **kw)


def beam(model, grid, width, **kw):
    return decode_captions(model, grid, beam_width=width, **IDS, **kw)


class _TableModel:
    """A stand-in decoder: next-word logits from a fixed table indexed by (image, previous word)."""

    def __init__(self, table):
        self.table = tf.constant(table, "float32")  # (images, vocab, vocab)

    def init_state(self, grid):
        n = tf.shape(grid)[0]
        return tf.cast(tf.range(n), "float32")[:, None], [tf.zeros((n, 2))]

    def step(self, memory, states, tokens):
        image = tf.cast(memory[:, 0], "int32")
        logits = tf.gather_nd(self.table, tf.stack([image, tokens], axis=1))
        return logits, [states[0] + 1], None


def _reference_greedy(model, grid, max_length):
    """The most likely word at each step, one eager step at a time."""
    memory, states = model.init_state(grid)
    tokens = np.full(len(grid), IDS["start_id"], "int32")
    seqs, done = [[] for _ in grid], np.zeros(len(grid), bool)
    for _ in range(max_length):
        logits, states, _ = model.step(memory, states, tokens)
        tokens = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1).astype("int32")
        for i, t in enumerate(tokens):
            done[i] |= t == IDS["end_id"]
            if not done[i]:
                seqs[i].append(int(t))
    return seqs


def test_beam_width_one_is_greedy_decoding():
    # a real (untrained, scaled-up) attention decoder and a random lookup-table decoder
    keras.utils.set_random_seed(3)
    model = ShowAttendTellDecoder(vocab_size=50, embed_dim=8, units=16, attention_units=8)
    model([GRID, TOKENS])
    for w in model.classifier.weights[:1]:
        w.assign(w * 20.0)
    for m in (model, _TableModel(RNG.normal(size=(3, 50, 50)) * 3)):
        seqs, _ = greedy(m, GRID, max_length=12)
        assert seqs == _reference_greedy(m, GRID, 12)
        assert len({tuple(s) for s in seqs}) > 1 or len(seqs[0]) > 1  # non-trivial output


def test_beam_search_finds_higher_scoring_caption_than_greedy():
    # word 4 looks best first (0.6) but leads to a flat distribution; word 5 (0.4) leads to a
    # certain <end>: greedy takes 4, a beam of 2 finds the more probable [5]
    v = 8
    table = np.full((1, v, v), -20.0)
    table[0, START, 4], table[0, START, 5] = np.log(0.6), np.log(0.4)
    table[0, 4, 4:8] = np.log(0.25)
    table[0, 5, END] = 0.0
    table[0, 6:8, END] = 0.0
    table[0, 4, END] = -20.0
    m = _TableModel(table)
    seqs, _ = greedy(m, np.zeros((1, 1, 1)), max_length=2)
    assert seqs[0][0] == 4
    assert beam(m, np.zeros((1, 1, 1)), 2, max_length=2)[0] == [[5]]


def test_length_penalty_chooses_the_longer_caption_by_mean_word_score():
    # <start> -> 5 (0.5) -> <end>: sum log 0.5 = -0.69 over 1 word; <start> -> 4 (0.5) -> 6
    # (0.7) -> 7 (0.7) -> <end>: sum -1.40 over 3 words (-0.47 a word). The plain sum takes
    # the short caption; score / words**1 the long one; **0.5 still the short (-0.81 < -0.69)
    v = 10
    table = np.full((1, v, v), -30.0)
    table[0, START, 4], table[0, START, 5] = np.log(0.5), np.log(0.5)
    table[0, 5, END] = 0.0
    table[0, 4, 6], table[0, 4, 8] = np.log(0.7), np.log(0.3)
    table[0, 6, 7], table[0, 6, 9] = np.log(0.7), np.log(0.3)
    table[0, 7, END] = table[0, 8, END] = table[0, 9, END] = 0.0
    m, grid = _TableModel(table), np.zeros((1, 1, 1))
    assert beam(m, grid, 2, max_length=6)[0] == [[5]]
    assert beam(m, grid, 2, max_length=6, length_penalty=0.5)[0] == [[5]]
    assert beam(m, grid, 2, max_length=6, length_penalty=1.0)[0] == [[4, 6, 7]]
    for bad in (-0.5, float("nan")):
        with pytest.raises(ValueError, match="length_penalty must be a number >= 0"):
            beam(m, grid, 2, max_length=6, length_penalty=bad)
    assert beam(m, grid, 2, max_length=MAX_TEXT_WORDS)[0] == [[5]]  # at the limit
    # the beam holds (images, beams, max_length): 10**8 with 64 beams took 1.7 GB, then a
    # TensorFlow traceback; 0 words is no caption
    for bad in (MAX_TEXT_WORDS + 1, 0):
        with pytest.raises(ValueError, match=f"^max_length must be from 1 to 10,000, got {bad:,}"):
            beam(m, grid, 2, max_length=bad)


def test_trigram_penalty_removes_repeated_trigrams():
    # a decoder that loves the cycle 4 5 6 4 5 6 ..., with other words a little less likely
    v = 12
    table = np.zeros((1, v, v))
    for prev in range(v):
        table[0, prev, 4 + (prev - 3) % 3 if prev >= 4 else 4] = 5.0
        table[0, prev, 7:11] = 3.0 + 0.1 * np.arange(4)
    table[0, :, END] = -5.0  # <end> unlikely
    m = _TableModel(table)
    grid = np.zeros((1, 1, 1))
    for width in (1, 3):
        plain, _ = beam(m, grid, width, max_length=15)
        assert count_repeated_trigrams(" ".join(map(str, plain[0]))) > 0
        blocked, _ = beam(m, grid, width, max_length=15, trigram_alpha=float("inf"))
        assert count_repeated_trigrams(" ".join(map(str, blocked[0]))) == 0
        assert len(blocked[0]) == 15
    pen = trigram_penalty(tf.constant([[4, 5, 6, 4, 5, 0]]), 5, v, alpha=2.0).numpy()
    assert pen[0, 6] == pytest.approx(2.0 * np.log(0.5))
    assert (pen[0, np.arange(v) != 6] == 0).all()


def test_tokenizer_threshold_start_end_and_periods(tmp_path):
    tok = CaptionTokenizer.fit(["A dog runs.", "a dog sits", "a cat"], min_count=2)
    assert tok.tokens[:6] == ["<pad>", "<start>", "<end>", "<unk>", "a", "dog"]
    ids = tok.encode("a dog flies")
    assert ids[0] == START and ids[-1] == END and ids[3] == UNK
    assert tok.decode(ids) == "a dog <unk>"
    assert len(tok.encode("a dog a dog a dog", max_length=4)) == 5  # start + 3 words + end
    para = CaptionTokenizer.fit(["A boat. The sea is blue!"], min_count=1, keep_periods=True)
    assert "." in para.tokens
    assert para.decode(para.encode("A boat. The sea is blue!")) == "a boat. the sea is blue."
    loaded = CaptionTokenizer.load(para.save(tmp_path / "tok.json"))
    assert loaded.tokens == para.tokens and loaded.keep_periods and loaded.min_count == 1
    old = tmp_path / "old.json"  # the layout of earlier kits (other special-token ids)
    old.write_text('{"words": ["<pad>", "<unk>", "<start>", "<end>", "a"], "min_count": 1}')
    with pytest.raises(ValueError, match=r"old.json is not a vocabulary of this kit.*re-run"):
        CaptionTokenizer.load(old)
    with pytest.raises(ValueError, match=r"is not a regular file: re-run"):  # a folder (or FIFO)
        CaptionTokenizer.load(tmp_path)
    assert caption_words("Ünïcode café, naïve!") == ["ünïcode", "café", "naïve"]


class _Features:
    def __init__(self, ids, grid, mask):
        self.ids, self.grid, self.mask = ids, grid, mask


def _toy_posts(n=60, seed=0):
    """Images of 3 kinds (the grid says which), each with captions naming its kind."""
    rng = np.random.default_rng(seed)
    words = {0: "a red boat on the sea", 1: "a green tree in the forest", 2: "a white dog on snow"}
    posts, grids = [], []
    for i in range(n):
        kind = i % 3
        g = rng.normal(scale=0.3, size=(4, 8)).astype("float32")
        g[:, kind] += 3.0
        grids.append(g)
        caps = [words[kind], words[kind].replace("a ", "one ", 1), words[kind] + " today"]
        posts.append(Post(id=f"p{i}", image=f"/img/{i}.png", captions=caps, paragraph=None))
    return posts, np.stack(grids).astype("float16")


def test_build_caption_data_counts_skips():
    posts, grid = _toy_posts(6)
    posts[1].image = None
    posts[2].captions = ["", "  "]
    posts[3].captions = posts[3].captions + [""]
    mask = np.ones(6, bool)
    mask[4] = False
    feats = _Features([p.id for p in posts], grid, mask)
    tok = CaptionTokenizer.fit([c for p in posts for c in p.captions], min_count=1)
    report = RunReport()
    data = build_caption_data(posts, feats, tok, max_length=5, report=report)
    assert data.ids == ["p0", "p3", "p5"]
    assert report.counts == {"no_image": 1, "no_references": 1, "unreadable_image": 1}
    assert report.notes["empty_caption"] == 2 and report.notes["reference_truncated"] > 0
    assert data.pair_tokens.shape == (9, 6) and data.grid.shape == (3, 4, 8)
    assert data.references["p3"] == posts[3].captions[:3]
    (g, x), y = CaptionBatches(data, batch_size=4, shuffle=False)[0]
    assert g.shape == (4, 4, 8) and x.shape == (4, 5) and y.shape == (4, 5)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="grid=True"):
        build_caption_data(posts, _Features(feats.ids, None, mask), tok)


def test_training_learns_image_dependent_captions():
    posts, grid = _toy_posts(60)
    feats = _Features([p.id for p in posts], grid, np.ones(60, bool))
    parts = split_posts(posts, seed=0)
    tok = CaptionTokenizer.fit([c for p in parts["train"] for c in p.captions], min_count=1)
    train = build_caption_data(parts["train"], feats, tok, max_length=8)
    test = build_caption_data(parts["test"], feats, tok, max_length=8)
    keras.utils.set_random_seed(0)
    model = ShowAttendTellDecoder(tok.vocab_size, embed_dim=16, units=32, attention_units=16)
    out = train_caption_model(model, train, epochs=10, batch_size=24, learning_rate=1e-2)
    assert out["history"]["loss"][-1] < 0.5 * out["history"]["loss"][0]
    assert out["ms_per_step"] > 0
    texts, att = generate_captions(model, test.grid, tok, beam_width=2, return_attention=True)
    kinds = {"boat": 0, "tree": 1, "dog": 2}
    right = 0
    for pid, text in zip(test.ids, texts, strict=True):
        kind = int(pid[1:]) % 3
        right += any(w in text.split() and k == kind for w, k in kinds.items())
    assert right >= 0.8 * len(test.ids)
    assert att is not None and att[0].shape[1] == 4
    assert most_frequent_reference(train) in {c for p in parts["train"] for c in p.captions}


def test_paragraph_data_keeps_sentence_ends():
    posts = [
        Post("p0", image="/x.png", paragraph="A boat. The sea is blue!"),
        Post("p1", image="/y.png", paragraph="  "),
    ]
    feats = _Features(["p0", "p1"], np.zeros((2, 4, 8), "float16"), np.ones(2, bool))
    tok = CaptionTokenizer.fit([posts[0].paragraph], min_count=1, keep_periods=True)
    report = RunReport()
    data = build_caption_data(posts, feats, tok, task="paragraph", max_length=12, report=report)
    assert data.ids == ["p0"] and report.counts["no_references"] == 1
    assert data.references["p0"] == ["A boat. The sea is blue!"]
    assert tok.decode(data.pair_tokens[0]) == "a boat. the sea is blue."


def _flickr8k_release(root, n=30):
    """A tiny Flickr8k release in its original layout: token file, split lists, images."""
    from PIL import Image

    (root / "Flicker8k_Dataset").mkdir(parents=True)
    names = [f"{i:04d}_photo.jpg" for i in range(n)]
    lines = []
    for i, name in enumerate(names):
        Image.fromarray(np.full((16, 16, 3), 5 * i, np.uint8)).save(
            root / "Flicker8k_Dataset" / name
        )
        lines += [f"{name}#{j}\ta dog number {i} runs on the grass {j}" for j in range(2)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    for fname, part in (("train", names[:20]), ("dev", names[20:24]), ("test", names[24:28])):
        (root / f"Flickr_8k.{fname}Images.txt").write_text("\n".join(part) + "\n")
    return names  # the last two images are in no list


def test_run_caption_parts_uses_the_release_split_and_names_the_dataset(tmp_path):
    from hashtag_kit.captioning import run_caption_parts
    from hashtag_kit.preprocess import PreprocessConfig, preprocess
    from hashtag_kit.run import RunDir

    names = _flickr8k_release(tmp_path / "flickr8k")
    config = PreprocessConfig(
        dataset="flickr8k", data_dir=str(tmp_path / "flickr8k"), require_hashtags=False
    )
    preprocess(tmp_path / "run", config)
    parts, split, dataset = run_caption_parts(RunDir(tmp_path / "run"))
    assert (split, dataset) == ("official", "flickr8k")
    assert [p.id for p in parts["train"]] == names[:20]
    assert [p.id for p in parts["val"]] == names[20:24]
    assert [p.id for p in parts["test"]] == names[24:28]
    assert all(p.has_image and len(p.captions) == 2 for p in parts["test"])


def test_run_caption_parts_stops_with_the_run_and_dataset_when_nothing_has_captions(tmp_path):
    from hashtag_kit.captioning import run_caption_parts
    from hashtag_kit.data.posts import Post, write_posts
    from hashtag_kit.data.splits import make_splits
    from hashtag_kit.run import RunDir

    posts = [Post(id=f"t{i}", text="sunny day", hashtags=["sun"]) for i in range(20)]
    rd = RunDir(tmp_path / "tweets-run")
    write_posts(rd.path / "01_preprocess" / "posts.jsonl", posts)
    (rd.path / "01_preprocess" / "splits.json").write_text(json.dumps(make_splits(posts)))
    rd.update_meta(dataset="tweets")
    with pytest.raises(
        ValueError, match=r"tweets-run \(dataset 'tweets', random split\).*captions"
    ):
        run_caption_parts(rd)


# -- teacher forcing = step-by-step decoding; attention regulariser -----------------------------


def _models():
    keras.utils.set_random_seed(4)
    return [
        ShowAttendTellDecoder(vocab_size=50, embed_dim=8, units=16, attention_units=8),
        MergeCaptionModel(vocab_size=50, embed_dim=8, units=16),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["show_attend_tell", "merge"])
def test_teacher_forcing_equals_init_state_and_step_in_a_python_loop(index):
    """`call` (embeddings before the time loop, output head after it) computes the same logits
    and attention as `step` run word by word, the way the decoders use it."""
    model = _models()[index]
    tokens = TOKENS.copy()
    tokens[0, 3:] = 0  # padding
    model([GRID, tokens])
    for w in model.classifier.weights[:1]:  # larger logits: a stricter comparison
        w.assign(w * 10.0)
    if index == 0:
        logits, alphas = model([GRID, tokens], training=False, return_attention=True)
    else:
        logits, alphas = model([GRID, tokens], training=False), None
    memory, states = model.init_state(GRID)
    step_logits, step_alphas = [], []
    for t in range(tokens.shape[1]):
        out, states, alpha = model.step(memory, states, tokens[:, t])
        step_logits.append(keras.ops.convert_to_numpy(out))
        step_alphas.append(None if alpha is None else keras.ops.convert_to_numpy(alpha))
    logits = keras.ops.convert_to_numpy(logits)
    assert np.abs(logits).max() > 1.0
    np.testing.assert_allclose(np.stack(step_logits, axis=1), logits, atol=1e-5, rtol=0)
    if alphas is not None:
        np.testing.assert_allclose(
            np.stack(step_alphas, axis=1), keras.ops.convert_to_numpy(alphas), atol=1e-6
        )


def test_attention_with_projected_values_is_the_same_attention():
    from hashtag_kit.layers.additive_attention import AdditiveAttention

    keras.utils.set_random_seed(0)
    att = AdditiveAttention(8)
    query, values = GRID[:, 0, :5], GRID[:, :7, :16]
    ctx, w = att(query, values)
    keys = att.project_values(values)
    assert tuple(keys.shape) == (3, 7, 8)
    ctx2, w2 = att(query, values, projected_values=keys)
    np.testing.assert_allclose(np.asarray(ctx2), np.asarray(ctx), atol=1e-6)
    np.testing.assert_allclose(np.asarray(w2), np.asarray(w), atol=1e-6)
    np.testing.assert_allclose(np.asarray(ctx), np.einsum("br,brd->bd", w, values), atol=1e-5)


def _regularised_pair(regularizer, seed=0):
    """A Show-Attend-Tell decoder without dropout and a copy with the attention regulariser."""
    keras.utils.set_random_seed(seed)
    plain = ShowAttendTellDecoder(
        vocab_size=20, embed_dim=8, units=16, attention_units=8, dropout=0
    )
    plain([GRID, TOKENS])
    config = {**plain.get_config(), "attention_regularizer": regularizer}
    regularised = ShowAttendTellDecoder.from_config(config)
    regularised([GRID, TOKENS])
    regularised.set_weights(plain.get_weights())
    return plain, regularised


def test_doubly_stochastic_penalty_by_hand():
    alphas = np.array(
        [[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [[0.2, 0.2, 0.6]] * 3], "float32"
    )
    tokens = np.array([[2, 5, 0], [2, 5, 6]])  # the first caption's last position is padding
    # caption 1: per-region sums (0.5, 1.5, 0) -> (0.25 + 0.25 + 1) / 3 = 0.5
    # caption 2: (0.6, 0.6, 1.8) -> (0.16 + 0.16 + 0.64) / 3 = 0.32; mean over the batch 0.41
    value = float(doubly_stochastic_penalty(alphas, tokens))
    assert value == pytest.approx(0.41, abs=1e-6)


def test_attention_regulariser_is_added_to_the_loss_fit_reports():
    """Keras 3 `fit` adds `add_loss` terms to the compiled loss: with the same weights, the
    regularised model's first training loss is higher by exactly lambda * penalty."""
    plain, regularised = _regularised_pair(2.0)
    assert regularised.get_config()["attention_regularizer"] == 2.0
    tokens = TOKENS.copy()
    tokens[:, 0] = 2
    tokens[0, 4:] = 0
    x, y = [GRID, tokens], np.roll(tokens, -1, axis=1)
    _, alphas = regularised(x, return_attention=True)
    penalty = float(doubly_stochastic_penalty(alphas, tokens))
    losses = []
    for model in (plain, regularised):
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss=caption_loss())
        losses.append(model.fit(x, y, batch_size=3, epochs=1, verbose=0).history["loss"][0])
    assert losses[1] > losses[0]
    assert losses[1] - losses[0] == pytest.approx(2.0 * penalty, rel=1e-4)
    # not at inference: the regulariser is a training loss
    np.testing.assert_allclose(
        np.asarray(regularised(x, training=False)), np.asarray(plain(x, training=False))
    )


def test_attention_regulariser_pushes_attention_sums_towards_one():
    """From peaked attention, training with the regulariser lowers the penalty, and ends below
    the same training without it."""
    rng = np.random.default_rng(5)
    grid = rng.normal(size=(24, 6, 32)).astype("float32")  # 6 regions
    tokens = np.zeros((24, 8), "int32")
    tokens[:, 0] = 2
    tokens[:, 1:7] = rng.integers(4, 20, size=(24, 6))  # 7 real positions, then padding
    x, y = [grid, tokens], np.roll(tokens, -1, axis=1)
    plain, regularised = _regularised_pair(1.0, seed=1)
    for model in (plain, regularised):
        w = model.attention.score.weights[0]
        w.assign(w * 30.0)  # sharp attention: far from a doubly stochastic one

    def penalty(model):
        _, alphas = model(x, training=False, return_attention=True)
        return float(doubly_stochastic_penalty(alphas, tokens))

    before = penalty(regularised)
    for model in (plain, regularised):
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=caption_loss())
        model.fit(x, y, batch_size=8, epochs=10, verbose=0, shuffle=False)
    assert penalty(regularised) < 0.8 * before
    assert penalty(regularised) < penalty(plain)
