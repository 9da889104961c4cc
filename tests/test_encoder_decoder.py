"""The encoder-decoder model: layer check, loss, beam search contract, stage files."""

import json

import keras
import numpy as np
import pytest

from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, HashtagSetLoss, dummy_inputs
from hashtag_kit.stage import load_stage, save_stage
from hashtag_kit.testing import check_layer
from hashtag_kit.vocabulary import END, N_SPECIAL, SPECIAL_TOKENS

V = 14  # 4 special tokens + 10 tags


def small_model(**kw):
    args = dict(vocab_size=V, image_dim=6, text_dim=5, units=8, embed_dim=4, seed=1)
    return HashtagEncoderDecoder(**{**args, **kw})


@pytest.mark.parametrize(
    "fusion,personalisation", [("weighted", True), ("concat", False), ("sum", True)]
)
def test_model_passes_check_layer(fusion, personalisation):
    model = small_model(fusion=fusion, personalisation=personalisation)
    x = dummy_inputs(model, n=3, steps=4)
    x.pop("existing")
    check_layer(model, x, (3, 4, V))


def test_model_param_count_matches_its_parts():
    units, emb, di, dt = 8, 4, 6, 5
    model = small_model(fusion="sum", personalisation=False)
    model.build()
    n = (di + 1) * units + (dt + 1) * units  # SumFusion projections
    n += 2 * (units + 1) * units  # init_h, init_c
    n += V * emb  # tag embeddings
    n += 4 * (emb * units + units * units + units)  # LSTM
    n += (units + 1) * V  # output layer
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == n


def test_set_loss_hand_computed():
    loss = HashtagSetLoss()
    y = np.array([[5, 6, 0]], "float32")  # two tags; decoder input <start>, 5, 6, <pad>
    # uniform logits: cross-entropy log(V) at each of the 3 valid steps (5|6, 6, <end>)
    assert float(loss(y, np.zeros((1, 4, 8), "float32"))) == pytest.approx(np.log(8), rel=1e-5)
    # logits = log(target): the loss is the targets' mean entropy = (log 2 + 0 + 0) / 3
    target = np.full((1, 4, 8), 1e-9, "float32")
    target[0, 0, [5, 6]] = 0.5
    target[0, 1, 6] = 1.0
    target[0, 2, END] = 1.0
    target[0, 3, 0] = 1.0  # ignored step (after the end)
    assert float(loss(y, np.log(target))) == pytest.approx(np.log(2) / 3, abs=1e-4)


def test_decode_contract_no_repeats_specials_excluded_or_existing():
    model = small_model()
    x = dummy_inputs(model, n=4)
    x["existing"] = np.array([[4, 5], [0, 0], [6, 0], [0, 0]], "int32")
    exclude = [set(), {7, 8}, set(), {9}]
    ids, scores = model.decode(x, k=6, beam_width=3, exclude=exclude)
    for i, (row, sc) in enumerate(zip(ids, scores, strict=True)):
        assert len(row) == 6 and len(set(row)) == 6
        assert min(row) >= N_SPECIAL and max(row) < V
        assert not set(row) & (set(x["existing"][i]) | exclude[i])
        assert (
            all(a >= b for a, b in zip(sc[:-1], sc[1:], strict=True)) and 0 < sc[-1] <= sc[0] <= 1
        )
    # greedy: the first tag is the most likely allowed tag after <start> + existing
    ids1, sc1 = model.decode(x, k=1, beam_width=1, exclude=exclude)
    assert [len(r) for r in ids1] == [1, 1, 1, 1]
    ids_g, _ = model.decode(x, k=3, beam_width=1, exclude=exclude)
    assert [r[0] for r in ids_g] == [r[0] for r in ids1]
    # a vocabulary smaller than k gives shorter lists, never specials or repeats
    ids_all, _ = model.decode(x, k=20, beam_width=2)
    assert all(len(r) == len(set(r)) <= V - N_SPECIAL for r in ids_all)


def test_decode_uses_history_and_modalities():
    model = small_model()
    x = dummy_inputs(model, n=2)
    base = model.decode(x, k=4)[1]
    no_hist = model.decode({k: v for k, v in x.items() if k != "history"}, k=4)[1]
    no_text = model.decode({**x, "text_mask": np.zeros(2, "float32")}, k=4)[1]
    assert not np.allclose(base, no_hist) and not np.allclose(base, no_text)
    image_only = small_model(modality="image")
    image_only.set_weights(model.get_weights())
    np.testing.assert_allclose(image_only.decode(x, k=4)[1], no_text, rtol=1e-5)


def test_generate_stops_at_end_token_decode_does_not():
    model = small_model()
    x = dummy_inputs(model, n=2)
    bias = model.output_layer.bias
    b = keras.ops.convert_to_numpy(bias).copy()
    b[END] = 50.0  # the decoder always wants to stop
    bias.assign(b)
    ids, scores = model.generate(x, max_tags=5, beam_width=2)
    assert ids == [[], []] and scores == [[], []]
    ids, _ = model.decode(x, k=5, beam_width=2)
    assert [len(r) for r in ids] == [5, 5]


def test_decode_is_the_generated_set_then_the_first_step_ranking():
    """decode(k) = what `generate` emits until <end>, then the other tags in the order of the
    first decoding step (after <start>); "ban" instead forces the beam past <end>."""
    model = small_model()
    x = dummy_inputs(model, n=3)
    x["existing"] = np.zeros((3, 2), "int32")
    bias = model.output_layer.bias
    b = keras.ops.convert_to_numpy(bias).copy()
    b[END] = 1.5  # sets of varied length
    bias.assign(b)
    k = 7
    gen, gen_scores = model.generate(x, max_tags=k, beam_width=3)
    ids, scores = model.decode(x, k=k, beam_width=3)
    steps = keras.ops.convert_to_numpy(
        model({**x, "decoder_in": np.full((3, 1), 1, "int32")}, training=False)
    )[:, 0]  # (3, V) logits of the first step after <start>
    lengths = set()
    for i in range(3):
        n = len(gen[i])
        lengths.add(n)
        assert ids[i][:n] == gen[i] and np.allclose(scores[i][:n], gen_scores[i])
        allowed = [t for t in np.argsort(-steps[i], kind="stable") if t >= N_SPECIAL]
        assert ids[i][n:] == [t for t in allowed if t not in gen[i]][: k - n]
        assert len(ids[i]) == k and bool(np.all(np.diff(scores[i]) <= 0))
    assert len(lengths) > 1 or 0 < min(lengths) < k  # both parts were exercised
    banned, _ = model.decode(x, k=k, beam_width=3, after_end="ban")
    assert all(len(r) == k for r in banned) and banned != ids
    with pytest.raises(ValueError, match="after_end"):
        model.decode(x, k=3, after_end="stop")


def test_rerank_after_accept_feeds_the_accepted_tag():
    model = small_model()
    x = dummy_inputs(model, n=2)
    ids, _ = model.decode(x, k=3)
    accepted = [[ids[0][1]], [ids[1][0]]]
    re_ids, _ = model.rerank_after_accept(x, accepted, k=3)
    for row, acc in zip(re_ids, accepted, strict=True):
        assert acc[0] not in row
    same = model.decode({**x, "existing": np.array(accepted, "int32")}, k=3)[0]
    assert re_ids == same


def test_stage_round_trip_and_errors(tmp_path):
    model = small_model()
    x = dummy_inputs(model, n=3)
    tokens = SPECIAL_TOKENS + [f"tag{i}" for i in range(V - N_SPECIAL)]
    users = {"u1": [5, 4]}
    cfg = {"image_encoder": {"name": "fake", "dim": 6}, "history_len": 3, "existing_len": 2}
    save_stage(tmp_path, model, tokens, users, cfg)
    loaded, tok2, users2, cfg2 = load_stage(tmp_path)
    assert tok2.tokens == tokens and users2 == users and cfg2["history_len"] == 3
    assert cfg2["format_version"] == 1 and cfg2["fusion"] == "weighted"
    a, sa = model.decode(x, k=5)
    b, sb = loaded.decode(x, k=5)
    assert a == b
    np.testing.assert_allclose(sa, sb, rtol=1e-5)
    with pytest.raises(ValueError, match="tokens must start"):
        save_stage(tmp_path, model, tokens[1:], users, cfg)
    (tmp_path / "model_config.json").write_text(json.dumps({**cfg2, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        load_stage(tmp_path)
    (tmp_path / "users.json").unlink()
    with pytest.raises(FileNotFoundError, match="users.json"):
        load_stage(tmp_path)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="fusion"):
        small_model(fusion="product")
    with pytest.raises(ValueError, match="modality"):
        small_model(modality="audio")
    model = small_model()
    with pytest.raises(ValueError, match="exclude"):
        model.decode(dummy_inputs(model, n=2), k=2, exclude=[set()])
