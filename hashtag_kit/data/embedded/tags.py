"""The embedded dataset's tags and rates: which tag the picture decides, which the caption
decides, which need both, the users' and the generic tags, and every rate of the generator.

These are the generator's tables (`hashtag_kit.data.embedded.generator` draws posts from them and
writes them to the datasheet); the package's description is in `hashtag_kit.data.embedded`.
"""

from __future__ import annotations

#: image-only tags: tag -> what in the picture decides it
IMAGE_TAGS = {
    "beach": "scene is a beach",
    "mountains": "scene is a mountain valley",
    "city": "scene is a city street",
    "forest": "scene is a forest",
    "snow": "scene is a snowy field",
    "desert": "scene is a desert",
    "sunset": "time of day is sunset",
    "night": "time of day is night",
    "dog": "a dog is drawn",
}
SCENE_TAG = {
    "beach": "beach",
    "mountain": "mountains",
    "city": "city",
    "forest": "forest",
    "snow": "snow",
    "desert": "desert",
}

#: words (and forms) of the image-only tags that never appear in a post's text
BANNED_TEXT_WORDS = frozenset(
    "beach beaches mountain mountains city cities forest forests snow snowy desert deserts "
    "sunset sunsets night nights tonight dog dogs doggo puppy sea ocean sand dunes "
    "downtown woods trees winter dusk".split()
)

#: text-only tags: tag -> phrases of the user's caption that carry it (the topic)
TEXT_TAGS = {
    "adventure": (
        "off on another adventure",
        "ready to explore somewhere new",
        "wandering off the map again",
        "adventure mode on",
        "exploring with no plan",
        "the journey is the point",
    ),
    "friends": (
        "with my best friends",
        "the whole crew showed up",
        "squad day out",
        "besties reunited",
        "good friends good times",
        "cannot believe we all made it",
    ),
    "foodie": (
        "brunch was unreal",
        "best tacos of my life",
        "ate way too much pizza",
        "snack break first",
        "this pasta though",
        "tried the new noodle place",
    ),
    "tbt": (
        "throwback to last summer",
        "throwback to this day",
        "remember this one?",
        "missing these days from back then",
        "old memories resurfacing",
        "found this one from years ago",
    ),
    "fitness": (
        "morning workout done",
        "legs are sore after training",
        "no rest days",
        "new personal best on my run",
        "sweaty but worth it",
        "gym first then everything else",
    ),
    "family": (
        "family time is the best time",
        "with mom and dad",
        "grandma came along",
        "the kids had a blast",
        "cousins all together",
        "lunch with the whole family",
    ),
    "weekend": (
        "finally the weekend",
        "lazy saturday",
        "sunday reset",
        "weekend plans: none",
        "two days off at last",
        "friday feeling",
    ),
    "grateful": (
        "so grateful for this",
        "thankful for moments like these",
        "feeling blessed",
        "counting my blessings",
        "grateful heart",
        "thank you universe",
    ),
}

#: text-only tag -> the scene types on which its caption topic is more common (a caption has the
#: topic with probability `p_text_topic_on_scene` there, `p_text_topic_elsewhere` on others)
TEXT_TOPIC_SCENES = {
    "adventure": ("desert", "mountain"),
    "friends": ("beach", "city"),
    "foodie": ("city",),
    "tbt": ("snow",),
    "fitness": ("mountain", "forest"),
    "family": ("beach", "snow"),
    "weekend": ("forest", "desert"),
    "grateful": ("beach",),
}

#: tags needing both: tag -> (picture condition, caption topic, caption phrases)
BOTH_TAGS = {
    "surfing": (
        "beach picture with a surfer",
        "waves",
        (
            "caught some waves",
            "paddled out early",
            "the swell was perfect",
            "riding all morning",
            "board waxed and ready",
            "wiped out twice, worth it",
        ),
    ),
    "goldenhour": (
        "sunset picture",
        "photo",
        (
            "snapped this on my camera",
            "testing the new lens",
            "took this shot myself",
            "shot on film",
            "had to stop and take this photo",
            "manual settings paid off",
        ),
    ),
    "hiking": (
        "mountain picture",
        "trail",
        (
            "hit the trail early",
            "boots on, long climb ahead",
            "made it to the top",
            "twelve miles done",
            "switchbacks all day",
            "trail mix and tired legs",
        ),
    ),
}

#: generic tags: tag -> base rate on any post (scaled by each user's taste for them)
GENERIC_TAGS = {
    "love": 0.30,
    "instagood": 0.26,
    "photooftheday": 0.20,
    "picoftheday": 0.13,
    "happy": 0.10,
    "instadaily": 0.08,
}

FILLER = (
    "what a day",
    "honestly",
    "no words",
    "just vibes",
    "again and again",
    "okay",
    "yes",
    "cannot stop smiling",
    "life lately",
    "currently",
    "more of this please",
    "mood",
    "same time next year?",
    "so good",
    "still here",
)
EMOJI = ("\u2728", "\U0001f60a", "\U0001f64c", "\U0001f525", "\U0001f4af", "\U0001f60d")

CITY_TAGS = (
    "paris",
    "tokyo",
    "lisbon",
    "berlin",
    "sydney",
    "capetown",
    "seoul",
    "toronto",
    "mumbai",
    "oslo",
    "lima",
    "nairobi",
)
STYLE_TAGS = ("nofilter", "vsco", "shotoniphone", "igers", "filmisnotdead", "streetstyle")
NAMES = (
    "anna ben carla dev elif farid gina hugo ines jonas kemi liam maya noor omar priya quinn "
    "rosa sami tara umar vera wen xavi yara zoe aiko bruno chen dina emil fatma goran hana "
    "ivan juno kofi lena marco nia otto pablo rhea sven tomas ula vic wanda yusuf zara abel "
    "bea cyrus dora eric fern gus hedda ike jade kai lola mats nell olga pia raj suki teo"
).split()
SUFFIXES = ("life", "daily", "diaries", "world", "stories", "journal")
PETS = ("cat", "bunny", "parrot", "pup", "kitten", "hamster")
SYLLABLES = (
    "ba be bo ka ki ko la lu mi mo na ne ri ro sa su ta te vo za zu dra gri pla stro "
    "fen mar tol vik lon qua zer"
).split()

#: all rates of the generator in one place (written to the datasheet)
RATES = {
    "p_image_tag": 0.85,  # scene tag given the scene
    "p_time_tag": 0.8,  # sunset / night tag given that light
    "p_dog_tag": 0.75,  # dog tag given a dog is drawn
    "p_text_topic_on_scene": 0.4,  # a text-only topic on one of its TEXT_TOPIC_SCENES
    "p_text_topic_elsewhere": 0.08,  # ... on the other scenes (0.17 on average over scenes)
    "p_text_tag": 0.85,  # text-only tag given its topic is in the caption
    "p_both_topic": 0.3,  # each 'both' caption topic, independently
    "p_both_tag": 0.9,  # 'both' tag given picture condition and caption topic
    "p_surfer_on_beach": 0.6,
    "p_no_image": 0.065,
    "p_no_text": 0.09,
    "p_blank_text": 0.03,
    "p_noise_tag": 0.3,  # first noise tag; a second with half that
    "time_of_day": {"day": 0.5, "sunset": 0.28, "night": 0.22},
    "scene_popularity": {
        "beach": 0.24,
        "city": 0.2,
        "mountain": 0.15,
        "forest": 0.14,
        "snow": 0.12,
        "desert": 0.15,
    },
    "user_zipf_exponent": 0.6,
    "min_posts_per_user": 3,
}


def _kinds() -> dict[str, str]:
    kinds = {t: "image" for t in IMAGE_TAGS}
    kinds.update({t: "text" for t in TEXT_TAGS})
    kinds.update({t: "both" for t in BOTH_TAGS})
    kinds.update({t: "generic" for t in GENERIC_TAGS})
    for t in CITY_TAGS + STYLE_TAGS:
        kinds[t] = "user"
    return kinds


#: kind of every designed tag: image / text / both / generic / user (city and style
#: signatures). Per-user personal tags and the noise tags depend on the seed: read them from a
#: generated folder with `tag_kinds(folder)`.
TAG_KINDS: dict[str, str] = _kinds()
KINDS = ("image", "text", "both", "user", "generic", "noise")
