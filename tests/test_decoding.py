"""The kit's one beam search (`hashtag_kit.decoding`): rules on a lookup-table decoder, and
one trace per setting for the models that use it."""

import math

import numpy as np
import tensorflow as tf

from hashtag_kit.decoding import beam_search

END, PAD = 0, 3


def _table_search(table, **kw):
    """Beam search over a next-token table (V, V) of log-probabilities, first token after 1."""
    table = tf.constant(np.log(table), "float64")

    def step(tokens, state, context):
        return tf.gather(table, tokens), state, None

    return {k: v.numpy() for k, v in beam_search(step, tf.gather(table, [1]), (), **kw).items()}


def test_beams_keep_the_best_sums_and_finished_beams_keep_their_score():
    # after 1: 2 (0.5) or 1 (0.4); 2 ends for sure; 1 leads to 2 (0.9)
    table = np.full((4, 4), 1e-9)
    table[1, [2, 1]] = 0.5, 0.4
    table[2, END] = 1.0
    out = _table_search(table, steps=3, beam_width=2, end_id=END)
    assert out["tokens"][0].tolist() == [[2, END, END], [1, 2, END]]
    np.testing.assert_allclose(out["scores"][0], [math.log(0.5), math.log(0.4 * 0.5)])
    np.testing.assert_allclose(out["log_probs"][0, 0], [math.log(0.5), 0.0, 0.0])


def test_no_repeat_banned_and_the_filler_after_the_end():
    table = np.full((6, 6), 0.01)
    table[:, 4] = 0.9  # 4 forever, unless it may not repeat
    table[4, 5] = 0.5
    banned = np.zeros((1, 6), bool)
    banned[0, [1, 2, PAD]] = True
    out = _table_search(
        table, steps=4, beam_width=1, end_id=END, filler_id=PAD, banned=banned, no_repeat=True
    )
    assert out["tokens"][0, 0].tolist() == [4, 5, END, PAD]
    plain = _table_search(table, steps=3, beam_width=1, end_id=END)
    assert plain["tokens"][0, 0].tolist() == [4, 4, 4]


def test_equal_scores_keep_the_lower_beam_then_the_lower_token():
    table = np.full((4, 4), 0.25)
    out = _table_search(table, steps=2, beam_width=3, end_id=3)
    assert out["tokens"][0].tolist() == [[0, 0], [0, 1], [0, 2]]


def test_models_trace_their_decoder_once_per_setting():
    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, dummy_inputs

    model = HashtagEncoderDecoder(vocab_size=12, image_dim=6, text_dim=5, units=8, embed_dim=4)
    for n in (1, 3, 5):
        model.decode(dummy_inputs(model, n=n, seed=n), k=3, beam_width=2)
    (fn,) = model._compiled_decoders.values()
    assert fn.experimental_get_tracing_count() == 1
