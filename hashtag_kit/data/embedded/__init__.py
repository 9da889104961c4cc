"""The embedded default dataset: generated posts with rendered pictures, captions and hashtags.

The kit's default data needs no download: `ensure()` generates it deterministically from a seed
the first time (1,200 posts in about 20 s on one core) and reuses it afterwards. It is made to
carry the structure multimodal hashtag recommenders exist to learn, so the notebooks teach
something true (see the datasheet, `data/README.md`):

- **image-only tags** (`IMAGE_TAGS`: `#beach #sunset #night #dog` ...) are decided by what the
  picture shows (scene type, time of day, a dog) and no word of them ever appears in the post
  text;
- **text-only tags** (`TEXT_TAGS`: `#adventure #foodie #tbt` ...) are decided by the words of
  the user's caption: a post has one only when its caption has that topic. As on real
  accounts, a topic is more common on some scenes (`TEXT_TOPIC_SCENES`: `#foodie` in the city,
  `#fitness` on mountain and forest trails ...), so the picture hints at these tags without
  deciding them: the hint is worth using when the caption is missing and worth ignoring when
  the caption says otherwise (what the DESIGN follow-up's gated fusion is for);
- **tags needing both** (`BOTH_TAGS`): `#surfing` = a beach picture with a surfer AND a caption
  about waves; `#goldenhour` = a sunset picture AND a caption about taking the photo;
  `#hiking` = a mountain picture AND a caption about the trail;
- **user habits**: users with Zipf-like activity, each with 1-3 signature tags used on most of
  their posts and a preferred mix of scenes;
- **generic tags** (`#love #instagood` ...) used at high rates regardless of content, and a
  tail of **noise tags** used once or twice;
- **missing modalities**: about 12% of posts have no text (None or whitespace only), about 6%
  no picture; two deliberately bad records (one corrupt image file, one empty reference
  caption), listed in `datasheet.json` under "bad_records";
- every picture has 5 reference captions and a 3-5 sentence paragraph describing what is drawn
  (for the captioning notebook); these may name the scene, the user's caption never does.

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
