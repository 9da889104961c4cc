"""The embedded default dataset: generated posts with rendered pictures, captions and hashtags.

The kit's default data needs no download: `ensure()` generates it deterministically from a seed
the first time (1,200 posts in about 20 s on one core) and reuses it afterwards. It carries the
structure multimodal hashtag recommenders exist to learn, so the notebooks teach something true
(the datasheet, `data/README.md`, details each part): **image-only tags** (`IMAGE_TAGS`) that
no word of the text names, **text-only tags** (`TEXT_TAGS`) decided by the caption's topic and
only hinted at by the scene (`TEXT_TOPIC_SCENES`), **tags needing both** (`BOTH_TAGS`: a beach
picture with a surfer AND a caption about waves is `#surfing`), users with signature tags and
favourite scenes, generic and noise tags, missing modalities (about 12% of posts without text,
6% without picture) and two deliberately bad records (`datasheet.json`: "bad_records"). Every
picture has 5 reference captions and a 3-5 sentence paragraph (for the captioning notebook),
which may name the scene; the user's caption never does.

Files written by `generate(out_dir)`:

    out_dir/posts.jsonl     Post manifest (hashtag_kit.data.posts); image paths relative to out_dir
    out_dir/images/*.jpg    256x256 RGB pictures (`embedded.scenes`), JPEG quality 95
    out_dir/datasheet.json  version, seed, counts, every tag's kind, users, bad records

Regenerate from the command line (`--help` for options):

    python -m hashtag_kit.data.embedded --n-posts 1200 --seed 0

Example:
    >>> folder = ensure(n_posts=300, seed=0)          # doctest: +SKIP
    >>> (folder / "posts.jsonl").exists()            # doctest: +SKIP
    True
    >>> TAG_KINDS["beach"], TAG_KINDS["adventure"], TAG_KINDS["surfing"]
    ('image', 'text', 'both')
"""

from hashtag_kit.data.embedded.generator import (
    DEFAULT_N_POSTS,
    default_root,
    ensure,
    generate,
    load_datasheet,
    load_embedded,
    tag_kinds,
)
from hashtag_kit.data.embedded.tags import TAG_KINDS

__all__ = [
    "DEFAULT_N_POSTS",
    "TAG_KINDS",
    "default_root",
    "ensure",
    "generate",
    "load_datasheet",
    "load_embedded",
    "tag_kinds",
]
