"""CNN-RNN (Wang et al., CVPR 2016): image and tags in one joint space, an RNN predicts the tags.

The tags of a post are a sequence (most frequent tag first, as in the paper). A tag embedding
matrix `U_l` maps tags into a joint space; an LSTM reads the previously predicted tags; its output
and the image feature are projected into the joint space and added,
`o(t) = relu(U_o r(t) + U_I I)`; the next tag's score is the dot product of `o(t)` with every tag
embedding (`U_l` is shared between input and output). Decoding is a beam search over tags that
never repeats a tag and stops at the end token.

Token ids are a `hashtag_kit.vocabulary.Vocabulary` of the tags: the special tokens (`<unk>` is
never used), then the tags (`tag_id = N_SPECIAL + index in the tag vocabulary`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hashtag_kit.data.posts import Post
from hashtag_kit.decoding import beam_search, compiled, log_softmax64
from hashtag_kit.features.cache import CachedFeatures
from hashtag_kit.features.stream import feature_dataset
from hashtag_kit.vocabulary import END, N_SPECIAL, PAD, START, UNK, Vocabulary


@keras.saving.register_keras_serializable(package="hashtag_kit")
class CNNRNNTagger(keras.Model):
    """CNN-RNN multi-label model: joint image/tag embedding space and an LSTM over tags.

    Args:
        n_tags: size of the tag vocabulary (the model has `n_tags + N_SPECIAL` tokens).
        joint_dim: size of the joint image/tag embedding space.
        units: LSTM units.
        dropout: dropout on the joint vector.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict with "image" (batch, image_dim) float (a pooled image feature, e.g. the
            1280-d EfficientNet-Lite0 vector) and "tags_in" (batch, steps) int: start token then
            the tag tokens so far (teacher forcing), padded with 0.

    Returns:
        next-token logits (batch, steps, n_tags + N_SPECIAL).

    Example:
        >>> import numpy as np
        >>> m = CNNRNNTagger(n_tags=4, joint_dim=8, units=8)
        >>> x = {"image": np.ones((1, 5), "float32"), "tags_in": np.array([[1, 4]], "int32")}
        >>> tuple(m(x).shape)
        (1, 2, 8)

    Reference:
        Wang, Yang, Mao, Huang, Huang & Xu, "CNN-RNN: A Unified Framework for Multi-label Image
        Classification", CVPR 2016.
    """

    def __init__(
        self, n_tags: int, joint_dim: int = 64, units: int = 128, dropout: float = 0.1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.n_tags = int(n_tags)
        self.joint_dim = int(joint_dim)
        self.units = int(units)
        self.dropout_rate = float(dropout)
        self.n_tokens = self.n_tags + N_SPECIAL
        self.tag_embedding = keras.layers.Embedding(
            self.n_tokens, self.joint_dim, name="tag_embedding"
        )
        self.rnn = keras.layers.LSTM(self.units, return_sequences=True, name="tag_lstm")
        self.rnn_proj = keras.layers.Dense(self.joint_dim, name="rnn_to_joint")
        self.image_proj = keras.layers.Dense(self.joint_dim, name="image_to_joint")
        self.dropout = keras.layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        self.output_bias = self.add_weight(
            shape=(self.n_tokens,), initializer="zeros", name="output_bias"
        )
        dummy = {
            "image": ops.zeros((1, *tuple(input_shape["image"])[1:]), "float32"),
            "tags_in": ops.ones((1, 1), "int32"),
        }
        self.call(dummy)
        self.built = True

    def call(self, inputs, training=None):
        image = ops.cast(inputs["image"], "float32")  # (batch, image_dim)
        tags_in = inputs["tags_in"]  # (batch, steps)
        emb = self.tag_embedding(tags_in)  # (batch, steps, joint)
        r = self.rnn(emb, mask=ops.not_equal(tags_in, PAD), training=training)  # (b, s, units)
        joint = ops.relu(
            self.rnn_proj(r) + ops.expand_dims(self.image_proj(image), 1)
        )  # (batch, steps, joint)
        joint = self.dropout(joint, training=training)
        # shared tag embeddings score every token: (batch, steps, n_tokens)
        return ops.matmul(joint, ops.transpose(self.tag_embedding.embeddings)) + self.output_bias

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_tags": self.n_tags,
            "joint_dim": self.joint_dim,
            "units": self.units,
            "dropout": self.dropout_rate,
        }

    def decode(
        self, image, beam_width: int = 3, max_tags: int = 5, batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Beam search over tag sequences (`hashtag_kit.decoding.beam_search`, compiled),
        never repeating a tag, stopping at the end token.

        Args:
            image: (n, image_dim) image features.
            beam_width: beams kept per post.
            max_tags: longest sequence.
            batch_size: posts decoded together.

        Returns:
            `(sequences, first_step_log_probs)`: sequences (n, beam_width, max_tags) token ids
            of each post's beams, best first (0-padded after the end), and the first step's
            log probabilities over all tokens (n, n_tokens) (used to extend the ranking).
        """
        image = np.asarray(image, dtype=np.float32)
        key = ("cnn_rnn", int(beam_width), int(max_tags), image.shape[1])
        fn = compiled(self, key, lambda: self._decoder(*key[1:]))
        parts = [fn(image[i : i + batch_size]) for i in range(0, len(image), batch_size)]
        seqs = np.concatenate([p["tokens"].numpy() for p in parts])
        seqs[seqs == END] = PAD
        return seqs, np.concatenate([p["first"].numpy() for p in parts])

    def _decoder(self, width: int, max_tags: int, image_dim: int):
        def step(tokens, state, image):
            """The next tag's log-probabilities (rows, n_tokens) after `tokens`."""
            r, state = self.rnn.cell(self.tag_embedding(tokens), list(state), training=False)
            joint = ops.relu(self.rnn_proj(r) + image)
            logits = ops.matmul(joint, ops.transpose(self.tag_embedding.embeddings))
            return log_softmax64(logits + self.output_bias), tuple(state), None

        @tf.function(input_signature=[tf.TensorSpec((None, image_dim), "float32")], autograph=False)
        def decode(image):
            image = self.image_proj(image)
            zeros = tf.zeros((tf.shape(image)[0], self.units))
            first, state, _ = step(tf.fill(tf.shape(image)[:1], START), (zeros, zeros), image)
            banned = tf.reduce_sum(tf.one_hot([PAD, START, UNK], self.n_tokens), axis=0) > 0
            out = beam_search(
                step,
                first,
                state,
                image,
                steps=max_tags,
                beam_width=width,
                end_id=END,
                filler_id=PAD,
                banned=tf.tile(banned[None], (tf.shape(image)[0], 1)),
                no_repeat=True,
            )
            return {"tokens": out["tokens"], "first": first}

        return decode


def tag_sequences(
    posts: Sequence[Post], tags: Sequence[str], max_tags: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing pairs: inputs `[START, t1..tn]` and targets `[t1..tn, END]`, 0-padded.

    Tags are ordered most frequent first (their order in `tags`, the preprocess vocabulary) and
    cut to `max_tags`; tags outside `tags` are dropped. Returns two (n_posts, max_tags + 1)
    int32 arrays; a post without vocabulary tags gets `[START] -> [END]`.
    """
    index = Vocabulary.of(tags).index
    n = max_tags + 1
    x = np.zeros((len(posts), n), dtype=np.int32)
    y = np.zeros((len(posts), n), dtype=np.int32)
    for r, p in enumerate(posts):
        tok = sorted({index[t] for t in p.hashtags if t in index})[:max_tags]
        x[r, : len(tok) + 1] = [START, *tok]
        y[r, : len(tok) + 1] = [*tok, END]
    return x, y


def compile_cnn_rnn(model: CNNRNNTagger, learning_rate: float = 1e-3) -> CNNRNNTagger:
    """Adam + next-tag cross-entropy that ignores padding."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
    )
    return model


def recommend_cnn_rnn(
    model: CNNRNNTagger,
    image,
    tags: Sequence[str],
    k: int,
    beam_width: int = 3,
    max_tags: int = 5,
    exclude: Sequence[Collection[str]] | None = None,
    posts: Sequence[Post] | None = None,
    batch_size: int = 256,
) -> list[list[str]]:
    """Ranked tag lists: the best beam's tags, then the other beams', then by first-step score.

    The beam gives a variable-length tag set (as in the paper); the ranking metrics need K tags,
    so the list is completed by the other beams and then by the first step's probabilities.
    `image` is (n, image_dim) pooled features, or `CachedFeatures` read `batch_size` posts at
    a time (pooled vectors only) for `posts` (default: all of its posts).
    """
    if isinstance(image, CachedFeatures):
        ids = image.ids if posts is None else [p.id for p in posts]
        batches = feature_dataset({"image": (image, "pooled")}, ids, batch_size=batch_size)
        parts = [
            model.decode(x["image"], beam_width, max_tags, batch_size)
            for x in batches.as_numpy_iterator()
        ]
        seqs, first = (np.concatenate(a) for a in zip(*parts, strict=True))
    else:
        seqs, first = model.decode(image, beam_width, max_tags, batch_size)
    order = np.argsort(-first[:, N_SPECIAL:], axis=1, kind="stable") + N_SPECIAL
    out = []
    for i in range(len(seqs)):
        skip = set(exclude[i]) if exclude is not None else set()
        ranked: list[str] = []
        for tok in [*seqs[i].ravel(), *order[i]]:
            if tok < N_SPECIAL:
                continue
            t = tags[tok - N_SPECIAL]
            if t not in skip and t not in ranked:
                ranked.append(t)
                if len(ranked) == k:
                    break
        out.append(ranked)
    return out
