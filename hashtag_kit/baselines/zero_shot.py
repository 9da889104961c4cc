"""Zero-shot hashtags: the image encoder's ImageNet labels turned into hashtags, no training.

Each image goes through the encoder's ImageNet classifier (`hashtag_kit.encoders.image.top_labels`,
EfficientNet-Lite0 by default); each of its top labels proposes hashtags: the whole label
normalised (`"tiger cat"` -> `#tigercat`, weight 1) and each of its words with singular/plural
variants (`#tiger`, `#cat`, `#cats`, weight `word_weight`), plus any hand-given `synonyms`
(`default_synonyms()`: ImageNet scene labels such as "seashore" -> `#beach #sea`, and every dog
breed -> `#dog`, every cat -> `#cat`, every food -> `#food`). A hashtag's score is the sum over
labels of label probability x weight. With a tag vocabulary only its tags can be proposed (so the
lists are comparable with trained models); without one the hashtags are open-vocabulary.

Posts without an image, or whose image cannot be read, get an empty list and are counted in
the RunReport (`zero_shot_no_image`, `zero_shot_unreadable_image`).

Example:
    >>> label_hashtags("tiger cat")
    [('tigercat', 1.0), ('tiger', 0.5), ('tigers', 0.5), ('cat', 0.5), ('cats', 0.5)]
    >>> ZeroShotRecommender(tags=["cat", "dog"]).recommend_from_labels([[("tabby cat", 0.9)]], 2)
    [['cat']]
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from hashtag_kit.data.posts import Post
from hashtag_kit.encoders.image import imagenet_label_names, top_labels
from hashtag_kit.report import RunReport
from hashtag_kit.text import normalise_hashtag, tokenize

#: hand-written label -> hashtag links for common photo subjects (scene labels of ImageNet, and
#: whole label families by class index: the 118 dog breeds, the 5 cats, the foods)
SCENE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "seashore": ("beach", "sea", "ocean"),
    "sandbar": ("beach", "sea"),
    "coral reef": ("sea", "ocean"),
    "lakeside": ("lake", "nature"),
    "alp": ("mountains", "mountain", "hiking", "nature"),
    "valley": ("mountains", "nature"),
    "volcano": ("mountains", "mountain"),
    "cliff": ("mountains", "nature"),
    "promontory": ("sea", "coast"),
    "geyser": ("nature",),
    "breakwater": ("sea",),
    "dock": ("sea", "harbour"),
    "pier": ("sea",),
    "boathouse": ("lake",),
    "streetcar": ("city",),
    "street sign": ("city",),
    "traffic light": ("city",),
    "cab": ("city",),
    "palace": ("city", "travel"),
    "church": ("city", "travel"),
    "dome": ("city", "travel"),
    "ski": ("snow", "winter"),
    "dogsled": ("snow", "winter"),
    "snowmobile": ("snow", "winter"),
    "snowplow": ("snow", "winter"),
    "dumbbell": ("fitness", "gym"),
    "barbell": ("fitness", "gym"),
}
_FAMILIES = (
    (range(151, 269), ("dog",)),
    (range(281, 286), ("cat",)),
    (range(924, 970), ("food", "foodie")),
)


def default_synonyms() -> dict[str, tuple[str, ...]]:
    """`SCENE_SYNONYMS` plus the dog, cat and food label families of the ImageNet class list."""
    out = dict(SCENE_SYNONYMS)
    try:
        names = imagenet_label_names()
    except Exception:  # noqa: BLE001 - the families are an extra; scenes still work
        return out
    for indices, tags in _FAMILIES:
        for i in indices:
            out[names[i]] = tuple(dict.fromkeys([*out.get(names[i], ()), *tags]))
    return out


def _variants(word: str) -> list[str]:
    """The word and its simple singular/plural counterpart (English, rule based)."""
    out = [word]
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    elif word.endswith(("ses", "xes", "ches", "shes")):
        out.append(word[:-2])
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.append(word[:-1])
    elif word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        out.append(word[:-1] + "ies")
    elif word.endswith(("s", "x", "ch", "sh")):
        out.append(word + "es")
    else:
        out.append(word + "s")
    return out


def label_hashtags(
    label: str, word_weight: float = 0.5, synonyms: dict[str, Sequence[str]] | None = None
) -> list[tuple[str, float]]:
    """Hashtags one ImageNet label proposes, with weights (whole label 1, each word `word_weight`).

    Args:
        label: an ImageNet class name, e.g. "tiger cat" or "seashore".
        word_weight: weight of single words of a multi-word label (and of their variants).
        synonyms: extra hashtags for a label (key: label or one of its words), weight 1.
    """
    out: dict[str, float] = {}

    def add(tag: str, w: float) -> None:
        tag = normalise_hashtag(tag)
        if tag and w > out.get(tag, 0.0):
            out[tag] = w

    add(label, 1.0)
    words = [w for w in tokenize(label) if len(w) > 1]
    single = len(words) == 1
    for w in words:
        for v in _variants(w):
            add(v, 1.0 if single else word_weight)
    for key in [label, *words]:
        for s in (synonyms or {}).get(key, ()):
            add(s, 1.0)
    return list(out.items())


class ZeroShotRecommender:
    """Hashtags from the image encoder's ImageNet labels; no training.

    Args:
        tags: the tag vocabulary allowed (None: open vocabulary).
        n_labels: how many top ImageNet labels of each image propose hashtags.
        word_weight: weight of single words of multi-word labels (see `label_hashtags`).
        synonyms: label -> extra hashtags; default `default_synonyms()` (scenes, dogs, cats,
            foods); pass {} for the bare label words only.
        labeller: `labeller(image_paths, k) -> [[(label, prob), ...], ...]`; default
            `hashtag_kit.encoders.image.top_labels` (EfficientNet-Lite0's ImageNet head).
        batch_size: images per labeller call.

    Reference:
        The zero-shot baseline of issue 5 (ImageNet labels mapped to hashtags), in the spirit of
        HARRISON's object-label baseline (Park et al. 2016).
    """

    name = "zero-shot ImageNet labels"

    def __init__(
        self,
        tags: Sequence[str] | None = None,
        n_labels: int = 5,
        word_weight: float = 0.5,
        synonyms: dict[str, Sequence[str]] | None = None,
        labeller: Callable | None = None,
        batch_size: int = 32,
    ) -> None:
        self.tags = list(tags) if tags is not None else None
        self._allowed = set(self.tags) if self.tags is not None else None
        self.n_labels = int(n_labels)
        self.word_weight = float(word_weight)
        self.synonyms = default_synonyms() if synonyms is None else dict(synonyms)
        self.labeller = labeller
        self.batch_size = int(batch_size)

    def fit(self, *args, **kwargs):
        """Nothing to learn (kept so every recommender has `fit`)."""
        return self

    def recommend_from_labels(
        self,
        label_lists: Sequence[Sequence[tuple[str, float]] | None],
        k: int,
        exclude: Sequence[Collection[str]] | None = None,
    ) -> list[list[str]]:
        """Ranked hashtags from precomputed `(label, probability)` lists (None: no image)."""
        out = []
        for i, labels in enumerate(label_lists):
            skip = set(exclude[i]) if exclude is not None and exclude[i] else set()
            scores: dict[str, float] = {}
            for label, prob in labels or ():
                for tag, w in label_hashtags(label, self.word_weight, self.synonyms):
                    if self._allowed is None or tag in self._allowed:
                        scores[tag] = scores.get(tag, 0.0) + float(prob) * w
            ranked = sorted(scores, key=lambda t: (-scores[t], t))
            out.append([t for t in ranked if t not in skip][:k])
        return out

    def image_labels(
        self, posts: Sequence[Post], report: RunReport | None = None
    ) -> list[list[tuple[str, float]] | None]:
        """Top ImageNet labels of each post's image (None for posts without a readable image)."""
        labeller = self.labeller if self.labeller is not None else top_labels
        report = report if report is not None else RunReport()
        out: list = [None] * len(posts)
        todo = []
        for i, p in enumerate(posts):
            if p.has_image:
                todo.append(i)
            else:
                report.skip("zero_shot_no_image", f"post {p.id}", "no image")
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            try:
                labels = labeller([posts[i].image for i in chunk], self.n_labels)
            except Exception:  # one bad file: label the chunk one by one to find it
                labels = []
                for i in chunk:
                    try:
                        labels.append(labeller([posts[i].image], self.n_labels)[0])
                    except Exception as e:  # noqa: BLE001 - counted, named, and skipped
                        report.skip(
                            "zero_shot_unreadable_image",
                            f"post {posts[i].id} ({posts[i].image})",
                            str(e),
                        )
                        labels.append(None)
            for i, lab in zip(chunk, labels, strict=True):
                out[i] = lab
        return out

    def recommend(
        self,
        posts: Sequence[Post],
        k: int,
        exclude: Sequence[Collection[str]] | None = None,
        report: RunReport | None = None,
    ) -> list[list[str]]:
        return self.recommend_from_labels(self.image_labels(posts, report), k, exclude)
