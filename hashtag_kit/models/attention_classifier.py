"""The original project's first model: attention over image regions and caption words.

Image: the encoder's spatial grid (e.g. 7x7 EfficientNet-Lite0 regions) read as a sequence by an
LSTM, pooled by additive attention guided by the LSTM's last state. Caption: word tokens through
a trainable embedding and a Bi-LSTM, pooled by additive self-attention. The two vectors are
concatenated and a sigmoid layer scores every tag of the vocabulary (multi-label), trained with
binary cross-entropy or, for the long tail, focal loss. `modality="image"|"text"` gives the
single-modality baselines; `fusion="co_attention"` replaces the two independent attentions by
`CoAttention` (Zhang et al., IJCAI 2017).

Tokens come from `WordVocabulary` (`hashtag_kit.text.tokenize` words in a
`hashtag_kit.vocabulary.Vocabulary`), saved beside the model as `word_vocab.json`.

Example:
    >>> import numpy as np
    >>> m = AttentionHashtagClassifier(n_tags=20, vocab_size=50, units=16)
    >>> x = {"regions": np.zeros((2, 49, 32), "float32"), "tokens": np.ones((2, 6), "int32")}
    >>> tuple(m(x).shape)
    (2, 20)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from hashtag_kit.data.posts import Post
from hashtag_kit.features import stream
from hashtag_kit.features.cache import CachedFeatures
from hashtag_kit.layers.additive_attention import AdditiveAttention
from hashtag_kit.layers.co_attention import CoAttention
from hashtag_kit.text import tokenize
from hashtag_kit.vocabulary import Vocabulary

MODALITIES = ("both", "image", "text")
FUSIONS = ("concat", "co_attention")


class WordVocabulary(Vocabulary):
    """Caption words as a `Vocabulary` (`hashtag_kit.text.tokenize` tokens; ids 0-3 special,
    a word outside it is `<unk>`).

    Example:
        >>> v = WordVocabulary.fit(["a red boat", "a boat"], min_count=1)
        >>> v.encode(["red boat sails"], max_len=4).tolist()
        [[6, 5, 3, 0]]
    """

    @classmethod
    def fit(cls, texts, max_words: int = 20000, min_count: int = 2) -> WordVocabulary:
        """The words seen at least `min_count` times, most frequent first, at most `max_words`."""
        return super().fit((w for t in texts if t for w in tokenize(t)), min_count, max_words)

    def encode(self, texts, max_len: int) -> np.ndarray:
        """(n, max_len) int32 ids; missing/empty texts give an all-padding row."""
        out = np.zeros((len(texts), max_len), dtype=np.int32)
        for i, t in enumerate(texts):
            ids = [self.id(w) for w in tokenize(t)] if t else []
            out[i, : min(len(ids), max_len)] = ids[:max_len]
        return out


@keras.saving.register_keras_serializable(package="hashtag_kit")
class AttentionHashtagClassifier(keras.Model):
    """Image-region LSTM + caption Bi-LSTM with additive attention, sigmoid over tags.

    Args:
        n_tags: size of the tag vocabulary (output width).
        vocab_size: number of word ids (`WordVocabulary.size`); unused when modality="image".
        modality: "both" (default), "image" (regions only) or "text" (tokens only).
        fusion: "concat" (independent attentions, concatenated) or "co_attention".
        units: LSTM units (the Bi-LSTM has `units // 2` per direction) and region projection size.
        embedding_dim: word embedding size.
        attention_units: hidden size of the attention scorers (default `units`).
        dropout: dropout on the fused vector.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict with "regions" (batch, n_regions, region_dim) float (zeros for posts without
            an image) and/or "tokens" (batch, n_words) int (0 = padding; all padding for posts
            without text), as the modality needs.
        return_attention: also return {"image": (batch, n_regions), "text": (batch, n_words)}
            attention weights (the entries the modality has).

    Returns:
        tag probabilities (batch, n_tags) (and the attention dict when asked).

    Example:
        >>> import numpy as np
        >>> m = AttentionHashtagClassifier(n_tags=5, vocab_size=10, modality="image", units=8)
        >>> p, att = m({"regions": np.ones((1, 49, 4), "float32")}, return_attention=True)
        >>> tuple(p.shape), tuple(att["image"].shape)
        ((1, 5), (1, 49))

    Reference:
        Sahliya et al., original project report, 2024 (LSTM/Bi-LSTM attention model); Bahdanau
        et al., ICLR 2015 (additive attention); Zhang et al., IJCAI 2017 (co-attention); Lin et
        al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """

    def __init__(
        self,
        n_tags: int,
        vocab_size: int,
        modality: str = "both",
        fusion: str = "concat",
        units: int = 128,
        embedding_dim: int = 64,
        attention_units: int | None = None,
        dropout: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if fusion == "co_attention" and modality != "both":
            raise ValueError("fusion='co_attention' needs modality='both'")
        self.n_tags = int(n_tags)
        self.vocab_size = int(vocab_size)
        self.modality = modality
        self.fusion = fusion
        self.units = int(units)
        self.embedding_dim = int(embedding_dim)
        self.attention_units = int(attention_units or units)
        self.dropout_rate = float(dropout)
        self.uses_image = modality in ("both", "image")
        self.uses_text = modality in ("both", "text")
        if self.uses_image:
            self.region_proj = keras.layers.Dense(self.units, activation="relu", name="region_proj")
            self.image_lstm = keras.layers.LSTM(
                self.units, return_sequences=True, return_state=True, name="image_lstm"
            )
        if self.uses_text:
            self.embedding = keras.layers.Embedding(
                self.vocab_size, self.embedding_dim, name="word_embedding"
            )
            self.text_bilstm = keras.layers.Bidirectional(
                keras.layers.LSTM(max(self.units // 2, 1), return_sequences=True),
                name="text_bilstm",
            )
        if fusion == "co_attention":
            self.co_attention = CoAttention(self.attention_units, name="co_attention")
        else:
            if self.uses_image:
                self.image_attention = AdditiveAttention(
                    self.attention_units, name="image_attention"
                )
            if self.uses_text:
                self.text_attention = AdditiveAttention(self.attention_units, name="text_attention")
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        self.classifier = keras.layers.Dense(self.n_tags, activation="sigmoid", name="tags")

    def build(self, input_shape):
        # run once on zeros so every sub-layer creates its weights (needed by .keras loading)
        dummy = {}
        if self.uses_image:
            dummy["regions"] = ops.zeros((1, *tuple(input_shape["regions"])[1:]), "float32")
        if self.uses_text:
            dummy["tokens"] = ops.zeros((1, *tuple(input_shape["tokens"])[1:]), "int32")
        self.call(dummy)
        self.built = True

    def call(self, inputs, training=None, return_attention=False):
        parts, attention = [], {}
        if self.uses_image:
            regions = ops.cast(inputs["regions"], "float32")  # (batch, R, region_dim)
            seq, h, _ = self.image_lstm(self.region_proj(regions), training=training)
        if self.uses_text:
            tokens = inputs["tokens"]  # (batch, T)
            word_mask = ops.not_equal(tokens, 0)
            words = self.text_bilstm(
                self.embedding(tokens), mask=word_mask, training=training
            )  # (batch, T, 2 * (units // 2))
        if self.fusion == "co_attention":
            v, s, a_img, a_txt = self.co_attention([seq, words, word_mask])
            parts = [v, s]
            attention = {"image": a_img, "text": a_txt}
        else:
            if self.uses_image:
                v, a_img = self.image_attention(h, seq)  # (batch, units), (batch, R)
                parts.append(v)
                attention["image"] = a_img
            if self.uses_text:
                s, a_txt = self.text_attention(None, words, mask=word_mask)
                parts.append(s)
                attention["text"] = a_txt
        fused = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        probs = self.classifier(self.dropout(fused, training=training))  # (batch, n_tags)
        return (probs, attention) if return_attention else probs

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_tags": self.n_tags,
            "vocab_size": self.vocab_size,
            "modality": self.modality,
            "fusion": self.fusion,
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "attention_units": self.attention_units,
            "dropout": self.dropout_rate,
        }


# -- data and training helpers ----------------------------------------------------------------
def multi_hot(posts: Sequence[Post], tags: Sequence[str]) -> np.ndarray:
    """(n_posts, n_tags) float32 targets; tags outside `tags` are ignored."""
    index = {t: i for i, t in enumerate(tags)}
    y = np.zeros((len(posts), len(tags)), dtype=np.float32)
    for r, p in enumerate(posts):
        for t in p.hashtags:
            if t in index:
                y[r, index[t]] = 1.0
    return y


def tag_frequency(posts: Sequence[Post], tags: Sequence[str], chunk: int = 4096) -> np.ndarray:
    """float32 (n_tags,): the share of `posts` carrying each tag, `multi_hot(posts,
    tags).mean(0)` computed a chunk of posts at a time."""
    total = sum(
        multi_hot(posts[a : a + chunk], tags).sum(0, dtype=np.float64)
        for a in range(0, len(posts), chunk)
    )
    return (total / len(posts)).astype(np.float32)


def classifier_inputs(
    posts: Sequence[Post],
    image_features=None,
    words: WordVocabulary | None = None,
    max_len: int = 24,
) -> dict:
    """Model inputs for `posts` in memory: "regions" float16 (n, R, C), "tokens" int32 (n,
    max_len).

    Args:
        posts: the posts, in order.
        image_features: `CachedFeatures` (`open_features`; only these posts' grids are read)
            or a loaded FeatureSet whose `grid` is (N, R, C), both extracted with grid=True and
            covering the posts by id; posts without features (or, for a FeatureSet, absent
            from it) get zero regions. None: no "regions" entry.
        words: the word vocabulary for the caption tokens (None: no "tokens" entry).
        max_len: caption length in tokens (longer captions are cut).
    """
    x = {}
    if isinstance(image_features, CachedFeatures):
        x = stream.load_inputs({"regions": (image_features, "grid")}, [p.id for p in posts])
    elif image_features is not None:
        if getattr(image_features, "grid", None) is None:
            raise ValueError(
                "image features have no region grid: extract them with grid=True "
                "(hashtag_kit.features.cache.extract_features(..., grid=True))"
            )
        index = {str(i): r for r, i in enumerate(image_features.ids)}
        grid = image_features.grid
        mask = np.asarray(image_features.mask, bool)
        regions = np.zeros((len(posts), *grid.shape[1:]), dtype=grid.dtype)
        for j, p in enumerate(posts):
            r = index.get(str(p.id))
            if r is not None and mask[r]:
                regions[j] = grid[r]
        x["regions"] = regions
    if words is not None:
        x["tokens"] = words.encode([p.text if p.has_text else None for p in posts], max_len)
    return x


def attention_inputs(posts, image_features, words, max_len) -> tuple[dict, dict]:
    """`(sources, arrays)` of the posts for `feature_dataset`: the grid of `CachedFeatures`
    stays a source (streamed, or loaded when it fits), all else is an array."""
    if isinstance(image_features, CachedFeatures):
        return {"regions": (image_features, "grid")}, classifier_inputs(posts, None, words, max_len)
    return {}, classifier_inputs(posts, image_features, words, max_len)


def compile_classifier(model: keras.Model, loss: str = "bce", learning_rate: float = 1e-3):
    """Adam + binary cross-entropy (`loss="bce"`) or binary focal loss (`loss="focal"`, gamma 2)."""
    if loss == "bce":
        loss_fn = keras.losses.BinaryCrossentropy()
    elif loss == "focal":
        loss_fn = keras.losses.BinaryFocalCrossentropy(gamma=2.0)
    else:
        raise ValueError(f"loss must be 'bce' or 'focal', got {loss!r}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_fn)
    return model


def predict_attention(
    model: AttentionHashtagClassifier,
    posts: Sequence[Post],
    image_features=None,
    words: WordVocabulary | None = None,
    max_len: int = 24,
    batch_size: int = 128,
) -> tuple[np.ndarray, dict]:
    """Tag probabilities (n, n_tags) and attention weights {"image": (n, R), "text": (n, T)}.

    `image_features` as in `hashtag_kit.training.classifiers.train_attention_classifier`;
    `CachedFeatures` are read batch by batch (`feature_dataset`, in the order of `posts`),
    never all grids at once."""
    sources, arrays = attention_inputs(
        posts,
        image_features if model.uses_image else None,
        words if model.uses_text else None,
        max_len,
    )
    batches = stream.feature_dataset(sources, [p.id for p in posts], arrays, batch_size=batch_size)
    probs, att = [], {}
    for x in batches.as_numpy_iterator():
        p, a = model(x, return_attention=True)
        probs.append(keras.ops.convert_to_numpy(p))
        for k, v in a.items():
            att.setdefault(k, []).append(keras.ops.convert_to_numpy(v))
    return np.concatenate(probs), {k: np.concatenate(v) for k, v in att.items()}
