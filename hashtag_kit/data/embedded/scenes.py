"""Rendered outdoor scenes for the embedded dataset: what is drawn, how, and how to describe it.

A `SceneSpec` is the content of one picture: a scene type (`SCENES`), a time of day
(`TIMES`) and a few objects with a colour and a place. `sample_scene` draws one from a random
generator, `render_scene` paints it with PIL and numpy (224x224 RGB by default), and
`describe_scene` writes the reference captions and the paragraph of that same picture, so the
words always match the pixels.

The pictures are cartoons, not photographs, but they are made for an ImageNet CNN to tell
apart: each scene has its own colour layout *and* texture (rippled water and speckled sand,
window grids, rock striations, tree crowds, snow sparkle, dune ripples); the time of day changes
the sky, the light on everything below it and the sun, moon and stars; objects (boat, surfer,
person, dog, car, kite, birds, snowman) are drawn large enough to be seen in a 7x7 feature grid.
Positions, sizes, horizon height, colours and textures are jittered per picture.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> spec = sample_scene(rng, "beach", "sunset")
    >>> render_scene(spec, rng).shape
    (224, 224, 3)
    >>> len(describe_scene(spec, rng)[0])
    5
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

#: standard deviation of the per-pixel grain added last (in 0-255 units)
GRAIN = 0.0

SCENES = ("beach", "mountain", "city", "forest", "snow", "desert")
TIMES = ("day", "sunset", "night")

#: named colours objects are painted in (the captions use the names)
COLOURS = {
    "red": (205, 35, 35),
    "blue": (35, 75, 205),
    "yellow": (240, 205, 35),
    "green": (40, 165, 60),
    "white": (242, 242, 242),
    "black": (28, 28, 30),
    "orange": (245, 130, 25),
    "pink": (240, 115, 175),
    "purple": (130, 55, 175),
    "brown": (125, 80, 40),
}

#: which objects each scene can hold (scenery such as trees and buildings is always there)
SCENE_OBJECTS = {
    "beach": ("boat", "surfer", "person", "dog", "kite", "birds"),
    "mountain": ("person", "dog", "birds", "car"),
    "city": ("car", "person", "dog", "birds"),
    "forest": ("person", "dog", "birds"),
    "snow": ("snowman", "person", "dog", "birds"),
    "desert": ("car", "person", "dog", "birds"),
}

#: at most this many objects per picture (one per third of the frame)
MAX_OBJECTS = 3

#: objects that live in the sky rather than on the ground or water
SKY_OBJECTS = ("kite", "birds")
WATER_OBJECTS = ("boat", "surfer")

# light falling on everything below the sky, per time of day (multiplies RGB)
_LIGHT = {
    "day": np.array([1.0, 1.0, 1.0]),
    "sunset": np.array([1.0, 0.72, 0.55]),
    "night": np.array([0.24, 0.28, 0.42]),
}


@dataclass
class SceneObject:
    """One drawn object: `name`, colour name, centre `x`, `y` (fractions of the width and
    height) and `scale` (1.0 = nominal size)."""

    name: str
    colour: str
    x: float
    y: float
    scale: float = 1.0

    @property
    def side(self) -> str:
        """'on the left', 'in the middle' or 'on the right'."""
        if self.x < 0.37:
            return "on the left"
        if self.x > 0.63:
            return "on the right"
        return "in the middle"


@dataclass
class SceneSpec:
    """What one picture shows: scene type, time of day, horizon height (fraction of the
    height), objects, and a few scenery details the descriptions mention."""

    scene: str
    time: str
    horizon: float
    objects: list[SceneObject] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return any(o.name == name for o in self.objects)

    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
def sample_scene(
    rng: np.random.Generator,
    scene: str,
    time: str,
    *,
    force: tuple[str, ...] = (),
    p_object: dict[str, float] | None = None,
) -> SceneSpec:
    """Sample the objects and layout of one picture.

    Args:
        rng: the random generator (consumed deterministically).
        scene: one of `SCENES`.
        time: one of `TIMES`.
        force: objects that must be present (e.g. ("surfer",)).
        p_object: probability of each optional object (defaults: `DEFAULT_P_OBJECT`).
    """
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; expected one of {SCENES}")
    if time not in TIMES:
        raise ValueError(f"unknown time of day {time!r}; expected one of {TIMES}")
    p = {**DEFAULT_P_OBJECT, **(p_object or {})}
    allowed = SCENE_OBJECTS[scene]
    names = [n for n in allowed if n in force or rng.random() < p.get(n, 0.0)]
    if not names:  # every picture shows at least one object
        names = [allowed[int(rng.integers(len(allowed)))]]
    if len(names) > MAX_OBJECTS:  # keep the forced ones, then a random choice of the rest
        rest = [n for n in names if n not in force]
        keep = [n for n in names if n in force] + list(rng.permutation(rest))
        names = [n for n in names if n in keep[:MAX_OBJECTS]]
    horizon = float(rng.uniform(0.40, 0.56))
    spec = SceneSpec(scene=scene, time=time, horizon=horizon)
    shore = horizon + (1 - horizon) * float(rng.uniform(0.38, 0.52))
    spec.details["shore"] = shore
    spec.details["n_clouds"] = int(rng.integers(0, 4)) if time == "day" else 0
    spec.details["celestial_x"] = float(rng.uniform(0.15, 0.85))
    spec.details["lit_windows"] = time == "night"
    # ground objects take distinct thirds of the picture so they do not hide each other
    slots = list(rng.permutation(3))
    sky_slots = list(rng.permutation(3))
    for name in names:
        colour = _object_colour(rng, name)
        if name in SKY_OBJECTS:
            slot = sky_slots.pop()
            x = (slot + rng.uniform(0.25, 0.75)) / 3
            y = float(rng.uniform(0.12, horizon - 0.12))
        elif name in WATER_OBJECTS:
            slot = slots.pop() if slots else int(rng.integers(3))
            x = (slot + rng.uniform(0.3, 0.7)) / 3
            lo, hi = horizon + 0.06, shore - 0.04
            y = float(rng.uniform(lo, max(lo, hi)))
        else:
            slot = slots.pop() if slots else int(rng.integers(3))
            right = 0.7 if name == "dog" else 0.78  # keep it in frame (the dog faces right)
            x = min(max((slot + rng.uniform(0.3, 0.7)) / 3, 0.16), right)
            top = shore if scene == "beach" else horizon + 0.12
            y = float(rng.uniform(top + 0.10, 0.90))
        scale = float(rng.uniform(0.85, 1.2))
        spec.objects.append(SceneObject(name, colour, float(x), y, scale))
    return spec


#: default probability that each optional object appears (when the scene allows it)
DEFAULT_P_OBJECT = {
    "boat": 0.45,
    "surfer": 0.5,
    "person": 0.35,
    "dog": 0.25,
    "kite": 0.3,
    "birds": 0.3,
    "car": 0.55,
    "snowman": 0.5,
}

_OBJECT_COLOURS = {
    "boat": ("red", "white", "blue", "yellow", "orange"),
    "surfer": ("red", "yellow", "blue", "orange", "pink", "green"),
    "person": ("red", "blue", "yellow", "green", "purple", "orange", "pink"),
    "dog": ("brown", "black", "white", "yellow"),
    "kite": ("red", "yellow", "pink", "purple", "orange", "green"),
    "birds": ("black",),
    "car": ("red", "blue", "yellow", "white", "black", "green"),
    "snowman": ("red", "blue", "green", "purple"),  # scarf colour
}


def _object_colour(rng: np.random.Generator, name: str) -> str:
    options = _OBJECT_COLOURS[name]
    return options[int(rng.integers(len(options)))]


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1], (h, w): a random `cells` grid upsampled bilinearly."""
    small = rng.uniform(0, 255, size=(cells, cells)).astype(np.uint8)
    big = Image.fromarray(small, "L").resize((w, h), Image.BILINEAR)
    return np.asarray(big, dtype=np.float32) / 127.5 - 1.0


def _jitter(rng: np.random.Generator, rgb, amount: float = 12.0) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _sky(spec: SceneSpec, rng: np.random.Generator, s: int) -> np.ndarray:
    """The sky for the whole canvas (the ground is painted over it later), (s, s, 3) float."""
    y = np.linspace(0.0, 1.0, s, dtype=np.float32)
    hz = spec.horizon
    t = np.clip(y / hz, 0, 1)  # 0 at the top, 1 at the horizon
    if spec.time == "day":
        top, bottom = _jitter(rng, (70, 135, 225)), _jitter(rng, (175, 212, 245))
        col = top[None, :] * (1 - t[..., None]) + bottom[None, :] * t[..., None]
    elif spec.time == "sunset":
        top = _jitter(rng, (70, 40, 115))
        mid = _jitter(rng, (235, 100, 85))
        low = _jitter(rng, (255, 185, 80))
        t2 = t[..., None]
        col = np.where(
            t2 < 0.55,
            top[None, :] * (1 - t2 / 0.55) + mid[None, :] * (t2 / 0.55),
            mid[None, :] * (1 - (t2 - 0.55) / 0.45) + low[None, :] * ((t2 - 0.55) / 0.45),
        )
    else:
        top, bottom = _jitter(rng, (6, 8, 28), 4), _jitter(rng, (28, 38, 80), 6)
        col = top[None, :] * (1 - t[..., None]) + bottom[None, :] * t[..., None]
    sky = np.broadcast_to(col[:, None, :], (s, s, 3)).copy()
    # soft streaks so the sky is not flat
    sky += _smooth_noise(rng, s, s, 6)[..., None] * (10 if spec.time != "night" else 4)
    return sky


def _draw_sky_bodies(spec: SceneSpec, rng: np.random.Generator, img: Image.Image) -> None:
    """Sun, moon, stars and clouds, painted straight onto the sky (not lit)."""
    s = img.width
    d = ImageDraw.Draw(img)
    hz = spec.horizon * s
    cx = spec.details["celestial_x"] * s
    if spec.time == "day":
        r = s * rng.uniform(0.06, 0.08)
        cy = s * rng.uniform(0.08, 0.2)
        d.ellipse([cx - r * 1.5, cy - r * 1.5, cx + r * 1.5, cy + r * 1.5], fill=(250, 240, 190))
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 236, 90))
        for _ in range(spec.details["n_clouds"]):
            x0 = rng.uniform(0, s * 0.8)
            y0 = rng.uniform(s * 0.05, max(s * 0.06, hz - s * 0.15))
            for _k in range(5):
                w, h = s * rng.uniform(0.07, 0.14), s * rng.uniform(0.04, 0.07)
                dx, dy = rng.uniform(0, s * 0.15), rng.uniform(-h / 2, h / 2)
                d.ellipse([x0 + dx, y0 + dy, x0 + dx + w, y0 + dy + h], fill=(248, 250, 252))
    elif spec.time == "sunset":
        r = s * rng.uniform(0.11, 0.15)
        cy = hz - r * rng.uniform(0.1, 0.6)
        d.ellipse([cx - r * 1.4, cy - r * 1.4, cx + r * 1.4, cy + r * 1.4], fill=(255, 160, 70))
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 95, 40))
    else:
        n = int(rng.integers(60, 140))
        xs, ys = rng.uniform(0, s, n), rng.uniform(0, hz, n)
        for x, y in zip(xs, ys, strict=True):
            b = int(rng.integers(170, 256))
            if rng.random() < 0.15:
                d.ellipse([x - 1, y - 1, x + 1, y + 1], fill=(b, b, b))
            else:
                d.point((float(x), float(y)), fill=(b, b, b))
        r = s * rng.uniform(0.05, 0.07)
        cy = s * rng.uniform(0.08, 0.2)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(235, 235, 215))
        off = r * rng.uniform(0.35, 0.7)  # crescent: cover part with a sky-coloured disc
        d.ellipse([cx - r + off, cy - r - 2, cx + r + off, cy + r - 2], fill=(10, 13, 38))


def _ground(spec: SceneSpec, rng: np.random.Generator, s: int, sky: np.ndarray):
    """Textured ground below the horizon: returns (rgb float array, alpha mask bool)."""
    rgb = sky.copy()
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    hz = spec.horizon * s
    mask = yy >= hz
    sc = spec.scene
    speck = rng.standard_normal((s, s), dtype=np.float32)
    blot = _smooth_noise(rng, s, s, 10)
    if sc == "beach":
        shore = spec.details["shore"] * s
        edge = shore + 3 * np.sin(xx / s * 12 + rng.uniform(0, 6))
        water = (yy >= hz) & (yy < edge)
        sea = _jitter(rng, (25, 95, 165))
        waves = 0.5 + 0.5 * np.sin(yy * 0.9 + 3 * blot + xx * 0.05)
        rgb[water] = sea + (waves[water, None] ** 6) * 90 + blot[water, None] * 10
        sand_c = _jitter(rng, (225, 198, 140), 8)
        sand = yy >= edge
        rgb[sand] = sand_c + speck[sand, None] * 14 + blot[sand, None] * 14
        foam = (yy >= edge - 2) & (yy < edge + 2)
        rgb[foam] = (240, 245, 245)
    elif sc == "mountain":
        meadow_c = _jitter(rng, (95, 135, 60))
        streak = _smooth_noise(rng, s, s, 28)
        rgb[mask] = meadow_c + streak[mask, None] * 18 + speck[mask, None] * 10
    elif sc == "city":
        pave = _jitter(rng, (120, 120, 125), 6)
        rgb[mask] = pave + speck[mask, None] * 8
        road_top = hz + (s - hz) * 0.35
        road = yy >= road_top
        rgb[road] = _jitter(rng, (55, 55, 60), 4) + speck[road, None] * 6
        dash = road & (np.abs(yy - (road_top + (s - road_top) * 0.5)) < 2) & ((xx // 14) % 2 == 0)
        rgb[dash] = (235, 235, 220)
    elif sc == "forest":
        floor = _jitter(rng, (55, 95, 40))
        rgb[mask] = floor + blot[mask, None] * 20 + speck[mask, None] * 12
    elif sc == "snow":
        snow_c = _jitter(rng, (236, 240, 250), 4)
        shade = np.clip(blot, -1, 0)[..., None] * np.array([40, 25, 0], np.float32)
        rgb[mask] = snow_c + shade[mask] + speck[mask, None] * 4
    elif sc == "desert":
        sand_c = _jitter(rng, (222, 160, 90))
        ripple = np.sin((yy - hz) * 0.45 + 4 * np.sin(xx / s * 5 + rng.uniform(0, 6)) + blot * 2)
        rgb[mask] = sand_c + ripple[mask, None] * np.array([22, 18, 12]) + speck[mask, None] * 6
    return rgb, mask


def _paint_scenery(spec: SceneSpec, rng: np.random.Generator, d: ImageDraw.ImageDraw, s: int):
    """Scenery in front of the ground and behind the objects (drawn on the lit layer)."""
    hz = spec.horizon * s
    sc = spec.scene
    if sc == "mountain":
        for layer in range(2):
            n = int(rng.integers(2, 4))
            base = hz + (6 if layer else 0)
            shade = 105 - 25 * layer
            for _ in range(n):
                cx = rng.uniform(-0.1, 1.1) * s
                w = rng.uniform(0.35, 0.6) * s
                h = rng.uniform(0.25, 0.4) * s * (0.8 if layer else 1.0)
                col = tuple(int(v) for v in _jitter(rng, (shade + 10, shade, shade - 5), 8))
                d.polygon([(cx - w / 2, base), (cx, base - h), (cx + w / 2, base)], fill=col)
                for k in range(1, 6):  # rock striations
                    t = k / 6
                    d.line(
                        [(cx - w / 2 * t * 0.9, base - h + h * t), (cx, base - h + h * t * 0.7)],
                        fill=tuple(max(0, c - 30) for c in col),
                        width=1,
                    )
                cap = 0.3
                d.polygon(
                    [
                        (cx - w / 2 * cap, base - h + h * cap),
                        (cx, base - h),
                        (cx + w / 2 * cap, base - h + h * cap),
                        (cx + w * 0.05, base - h + h * cap * 0.7),
                    ],
                    fill=(245, 245, 250),
                )
    elif sc == "city":
        x = -rng.uniform(0, 10)
        while x < s:
            w = rng.uniform(0.1, 0.2) * s
            h = rng.uniform(0.2, 0.5) * s
            col = tuple(int(v) for v in _jitter(rng, (110, 115, 130), 30))
            d.rectangle([x, hz - h, x + w, hz + 2], fill=col)
            spec.details.setdefault("buildings", []).append((x, hz - h, x + w, hz))
            x += w + rng.uniform(0, 4)
    elif sc == "forest":
        for _ in range(int(rng.integers(16, 24))):
            x = rng.uniform(0, s)
            base = rng.uniform(hz - 2, hz + (s - hz) * 0.55)
            h = rng.uniform(0.25, 0.45) * s
            w = h * rng.uniform(0.35, 0.5)
            trunk = tuple(int(v) for v in _jitter(rng, (85, 55, 30), 8))
            d.rectangle([x - w * 0.07, base - h * 0.25, x + w * 0.07, base], fill=trunk)
            leaf = tuple(int(v) for v in _jitter(rng, (35, 110, 45), 18))
            for k in range(3):
                top = base - h + k * h * 0.22
                d.polygon(
                    [(x - w / 2, top + h * 0.45), (x, top), (x + w / 2, top + h * 0.45)],
                    fill=leaf,
                )
    elif sc == "snow":
        for _ in range(int(rng.integers(3, 7))):
            x = rng.uniform(0, s)
            base = rng.uniform(hz, hz + (s - hz) * 0.3)
            h = rng.uniform(0.15, 0.3) * s
            w = h * 0.45
            d.polygon([(x - w / 2, base), (x, base - h), (x + w / 2, base)], fill=(30, 85, 55))
            d.polygon(
                [(x - w / 4, base - h / 2), (x, base - h), (x + w / 4, base - h / 2)],
                fill=(245, 248, 255),
            )
    elif sc == "desert":
        for _ in range(int(rng.integers(1, 4))):
            x = rng.uniform(0.05, 0.95) * s
            base = rng.uniform(hz + 5, hz + (s - hz) * 0.4)
            h = rng.uniform(0.12, 0.22) * s
            c = (50, 125, 60)
            d.rounded_rectangle([x - 5, base - h, x + 5, base], radius=5, fill=c)
            d.rounded_rectangle([x - 16, base - h * 0.7, x - 10, base - h * 0.3], radius=3, fill=c)
            d.rectangle([x - 16, base - h * 0.35, x - 4, base - h * 0.3], fill=c)
            d.rounded_rectangle([x + 10, base - h * 0.8, x + 16, base - h * 0.45], radius=3, fill=c)
            d.rectangle([x + 4, base - h * 0.5, x + 16, base - h * 0.45], fill=c)
    elif sc == "beach" and rng.random() < 0.6:
        x = rng.choice([0.06, 0.94]) * s
        base = spec.details["shore"] * s + rng.uniform(10, 30)
        h = rng.uniform(0.3, 0.42) * s
        d.line([(x, base), (x + rng.uniform(-12, 12), base - h)], fill=(120, 85, 45), width=6)
        tx, ty = x, base - h
        for a in np.linspace(0, 2 * np.pi, 7)[:-1]:
            d.line(
                [(tx, ty), (tx + np.cos(a) * 30, ty + np.sin(a) * 12 + 10)],
                fill=(40, 130, 50),
                width=5,
            )


def _paint_object(o: SceneObject, d: ImageDraw.ImageDraw, s: int, rng: np.random.Generator):
    col = COLOURS[o.colour]
    x, y, k = o.x * s, o.y * s, o.scale * s / 224
    dark = (30, 30, 30)
    skin = (225, 180, 140)
    if o.name == "boat":
        w, h = 56 * k, 14 * k
        d.polygon(
            [(x - w / 2, y - h), (x + w / 2, y - h), (x + w / 3, y), (x - w / 3, y)], fill=col
        )
        d.line([(x, y - h), (x, y - h - 42 * k)], fill=dark, width=max(1, int(2 * k)))
        d.polygon(
            [(x + 2, y - h - 40 * k), (x + 2, y - h - 4), (x + 26 * k, y - h - 4)],
            fill=(250, 250, 245),
        )
    elif o.name == "surfer":
        d.arc(
            [x - 40 * k, y - 10 * k, x + 40 * k, y + 30 * k],
            180,
            360,
            fill=(245, 250, 250),
            width=max(2, int(4 * k)),
        )
        d.ellipse([x - 26 * k, y - 5 * k, x + 26 * k, y + 5 * k], fill=col)
        d.line(
            [(x - 6 * k, y), (x, y - 16 * k), (x + 6 * k, y)], fill=dark, width=max(2, int(4 * k))
        )
        d.line([(x, y - 16 * k), (x, y - 32 * k)], fill=dark, width=max(3, int(6 * k)))
        d.line(
            [(x - 14 * k, y - 28 * k), (x + 14 * k, y - 24 * k)],
            fill=dark,
            width=max(2, int(3 * k)),
        )
        d.ellipse([x - 5 * k, y - 42 * k, x + 5 * k, y - 32 * k], fill=skin)
    elif o.name == "person":
        d.line(
            [(x - 6 * k, y), (x - 3 * k, y - 18 * k)], fill=(40, 40, 60), width=max(2, int(5 * k))
        )
        d.line(
            [(x + 6 * k, y), (x + 3 * k, y - 18 * k)], fill=(40, 40, 60), width=max(2, int(5 * k))
        )
        d.rectangle([x - 9 * k, y - 40 * k, x + 9 * k, y - 17 * k], fill=col)
        d.line(
            [(x - 9 * k, y - 38 * k), (x - 16 * k, y - 24 * k)], fill=col, width=max(2, int(4 * k))
        )
        d.line(
            [(x + 9 * k, y - 38 * k), (x + 16 * k, y - 24 * k)], fill=col, width=max(2, int(4 * k))
        )
        d.ellipse([x - 7 * k, y - 54 * k, x + 7 * k, y - 40 * k], fill=skin)
    elif o.name == "dog":
        k *= 1.6  # big enough to register in a 7x7 feature grid
        ear = tuple(max(0, c - 45) for c in col) if o.colour != "black" else (70, 60, 55)
        d.ellipse([x - 22 * k, y - 24 * k, x + 14 * k, y - 8 * k], fill=col)  # body
        for lx in (-17, -10, 5, 11):  # legs
            d.line([(x + lx * k, y - 12 * k), (x + lx * k, y)], fill=col, width=max(3, int(4 * k)))
        d.line(  # tail up
            [(x - 20 * k, y - 18 * k), (x - 30 * k, y - 30 * k)], fill=col, width=max(2, int(3 * k))
        )
        d.ellipse([x + 6 * k, y - 36 * k, x + 24 * k, y - 18 * k], fill=col)  # head
        d.ellipse([x + 18 * k, y - 28 * k, x + 31 * k, y - 19 * k], fill=col)  # snout
        d.ellipse([x + 27 * k, y - 28 * k, x + 32 * k, y - 23 * k], fill=dark)  # nose
        d.polygon(  # floppy ear
            [(x + 8 * k, y - 34 * k), (x + 14 * k, y - 34 * k), (x + 10 * k, y - 20 * k)],
            fill=ear,
        )
        d.ellipse([x + 17 * k, y - 32 * k, x + 20 * k, y - 29 * k], fill=dark)  # eye
        d.line(  # collar
            [(x + 8 * k, y - 20 * k), (x + 14 * k, y - 16 * k)],
            fill=(210, 30, 30),
            width=max(2, int(3 * k)),
        )
    elif o.name == "car":
        w, h = 64 * k, 16 * k
        d.rectangle([x - w / 2, y - h - 6 * k, x + w / 2, y - 6 * k], fill=col)
        d.polygon(
            [
                (x - w / 4, y - h - 6 * k),
                (x - w / 6, y - h - 20 * k),
                (x + w / 5, y - h - 20 * k),
                (x + w / 3, y - h - 6 * k),
            ],
            fill=col,
        )
        d.polygon(
            [
                (x - w / 6 + 3, y - h - 8 * k),
                (x - w / 6 + 5, y - h - 17 * k),
                (x + w / 5 - 2, y - h - 17 * k),
                (x + w / 3 - 5, y - h - 8 * k),
            ],
            fill=(150, 190, 215),
        )
        for wx in (-w / 3, w / 3):
            d.ellipse([x + wx - 8 * k, y - 14 * k, x + wx + 8 * k, y + 2 * k], fill=dark)
            d.ellipse([x + wx - 3 * k, y - 9 * k, x + wx + 3 * k, y - 3 * k], fill=(160, 160, 160))
    elif o.name == "snowman":
        white = (250, 250, 255)
        d.ellipse(
            [x - 20 * k, y - 36 * k, x + 20 * k, y + 2 * k], fill=white, outline=(190, 200, 220)
        )
        d.ellipse(
            [x - 14 * k, y - 60 * k, x + 14 * k, y - 32 * k], fill=white, outline=(190, 200, 220)
        )
        d.ellipse(
            [x - 10 * k, y - 78 * k, x + 10 * k, y - 58 * k], fill=white, outline=(190, 200, 220)
        )
        d.rectangle([x - 12 * k, y - 60 * k, x + 12 * k, y - 56 * k], fill=col)
        d.polygon([(x, y - 69 * k), (x + 12 * k, y - 67 * k), (x, y - 65 * k)], fill=(245, 130, 25))
        d.rectangle([x - 9 * k, y - 86 * k, x + 9 * k, y - 76 * k], fill=dark)
        for by in (-44, -38, -20, -12):
            d.ellipse([x - 2 * k, y + (by - 2) * k, x + 2 * k, y + (by + 2) * k], fill=dark)
    elif o.name == "kite":
        w, h = 20 * k, 28 * k
        d.polygon([(x, y - h), (x + w, y), (x, y + h * 0.6), (x - w, y)], fill=col)
        d.line([(x, y - h), (x, y + h * 0.6)], fill=dark, width=1)
        d.line([(x - w, y), (x + w, y)], fill=dark, width=1)
        px, py = x, y + h * 0.6
        for i in range(6):
            nx, ny = px + 6 * k * (1 if i % 2 else -1), py + 9 * k
            d.line([(px, py), (nx, ny)], fill=dark, width=1)
            d.polygon(
                [(nx - 3, ny), (nx, ny - 3), (nx + 3, ny), (nx, ny + 3)], fill=(245, 245, 245)
            )
            px, py = nx, ny
    elif o.name == "birds":
        for _ in range(int(rng.integers(2, 5))):
            bx = x + rng.uniform(-25, 25) * k
            by = y + rng.uniform(-12, 12) * k
            w = rng.uniform(8, 12) * k
            d.line(
                [(bx - w, by - w * 0.5), (bx, by), (bx + w, by - w * 0.5)],
                fill=dark,
                width=max(2, int(3 * k)),
            )


def _paint_lights(spec: SceneSpec, rng: np.random.Generator, d: ImageDraw.ImageDraw, s: int):
    """Things that shine or are painted after the light is applied (windows, headlights)."""
    for x0, y0, x1, y1 in spec.details.get("buildings", []):
        step_x, step_y = 9, 11
        for wy in np.arange(y0 + 5, y1 - 8, step_y):
            for wx in np.arange(x0 + 4, x1 - 6, step_x):
                if spec.time == "night":
                    if rng.random() < 0.55:
                        d.rectangle([wx, wy, wx + 4, wy + 5], fill=(255, 215, 110))
                elif spec.time == "day":
                    d.rectangle([wx, wy, wx + 4, wy + 5], fill=(60, 80, 105))
                else:
                    d.rectangle(
                        [wx, wy, wx + 4, wy + 5],
                        fill=(230, 140, 90) if rng.random() < 0.3 else (70, 55, 70),
                    )
    if spec.time == "night":
        for o in spec.objects:
            if o.name == "car":
                x, y, k = o.x * s, o.y * s, o.scale * s / 224
                d.ellipse([x + 28 * k, y - 20 * k, x + 34 * k, y - 14 * k], fill=(255, 250, 200))


def render_scene(spec: SceneSpec, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """Paint `spec` as a (size, size, 3) uint8 RGB array."""
    s = int(size)
    sky = _sky(spec, rng, s)
    sky_img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8), "RGB")
    _draw_sky_bodies(spec, rng, sky_img)
    sky = np.asarray(sky_img, dtype=np.float32)

    # everything below the sky (ground, scenery, objects) goes on one layer that the light falls on
    ground, mask = _ground(spec, rng, s, sky)
    layer = np.zeros((s, s, 4), np.uint8)
    layer[..., :3] = np.clip(ground, 0, 255).astype(np.uint8)
    layer[..., 3] = mask.astype(np.uint8) * 255
    layer_img = Image.fromarray(layer, "RGBA")
    d = ImageDraw.Draw(layer_img)
    _paint_scenery(spec, rng, d, s)
    for o in sorted(spec.objects, key=lambda o: o.y):  # far objects first
        _paint_object(o, d, s, rng)
    lay = np.asarray(layer_img, dtype=np.float32)
    alpha = lay[..., 3:4] / 255.0
    lit = lay[..., :3] * _LIGHT[spec.time]
    if spec.time == "sunset":  # warm reflections on water and glass
        lit += np.array([18, 6, 0], np.float32)
    out = sky * (1 - alpha) + lit * alpha
    out_img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    _paint_lights(spec, rng, ImageDraw.Draw(out_img), s)
    out = np.asarray(out_img, dtype=np.float32)
    if GRAIN:  # optional sensor-like grain (costs PNG size: ~45 KB -> ~95 KB at 2.5)
        out += rng.standard_normal(out.shape, dtype=np.float32) * GRAIN
    return np.clip(out, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# describing (reference captions and paragraphs)
# ---------------------------------------------------------------------------------------------
_PLACE = {
    "beach": ("on the beach", "by the sea", "on the shore", "at the seaside"),
    "mountain": ("in the mountains", "below rocky peaks", "in a mountain valley"),
    "city": ("in the city", "on a city street", "in front of tall buildings", "downtown"),
    "forest": ("in the forest", "in the woods", "among tall pine trees"),
    "snow": ("in the snow", "on a snowy field", "in a white winter landscape"),
    "desert": ("in the desert", "on the sand dunes", "among dry dunes and cacti"),
}
_SCENE_NP = {
    "beach": ("a sandy beach", "a beach", "the seaside", "a quiet shore"),
    "mountain": ("a mountain valley", "snowy peaks", "a rocky mountain range"),
    "city": ("a city street", "a busy city", "tall city buildings"),
    "forest": ("a pine forest", "a green forest", "the woods"),
    "snow": ("a snowy field", "a winter landscape", "a field of snow"),
    "desert": ("a desert", "orange sand dunes", "a dry desert"),
}
_TIME_PP = {
    "day": ("on a sunny day", "under a blue sky", "in daylight", "on a bright day"),
    "sunset": ("at sunset", "at dusk", "under an orange sky", "as the sun goes down"),
    "night": ("at night", "under the stars", "in the dark", "under the moon"),
}
_NOUN = {
    "boat": ("boat", "sailboat"),
    "surfer": ("surfer",),
    "person": ("person",),
    "dog": ("dog", "puppy"),
    "kite": ("kite",),
    "birds": ("birds", "flock of birds"),
    "car": ("car",),
    "snowman": ("snowman",),
}
_VERB = {
    "boat": ("sailing on the water", "floating on the sea"),
    "surfer": ("riding a wave", "on a surfboard"),
    "person": ("standing", "walking"),
    "dog": ("standing", "playing"),
    "kite": ("flying high", "in the sky"),
    "birds": ("flying", "in the sky"),
    "car": ("parked", "driving by"),
    "snowman": ("standing", "smiling"),
}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _object_np(o: SceneObject, rng: np.random.Generator, colour: bool = True) -> str:
    noun = _pick(rng, _NOUN[o.name])
    if o.name == "birds":
        return "some birds" if noun == "birds" else "a flock of birds"
    if o.name == "surfer":
        return f"a surfer on {_article(o.colour)} {o.colour} board" if colour else "a surfer"
    if o.name == "person":
        base = f"a {noun}"
        return f"{base} in {_article(o.colour)} {o.colour} shirt" if colour else base
    if o.name == "snowman":
        return f"a snowman with {_article(o.colour)} {o.colour} scarf" if colour else "a snowman"
    if colour:
        return f"{_article(o.colour)} {o.colour} {noun}"
    return f"{_article(noun)} {noun}"


def describe_scene(spec: SceneSpec, rng: np.random.Generator, n_captions: int = 5):
    """Reference descriptions of a picture: (`n_captions` distinct short captions, a paragraph).

    Captions follow a small grammar with synonyms ("a red boat on the sea at sunset"); the
    paragraph has 3 to 5 sentences: the scene and light, the sky, every object with its colour
    and position, the ground. Every drawn object is named in the paragraph and in at least one
    caption.
    """
    objs = sorted(spec.objects, key=lambda o: -o.scale)  # biggest first
    captions: list[str] = []
    tries = 0
    while len(captions) < n_captions and tries < 200:
        tries += 1
        # the first captions go round every object, so each drawn object is named somewhere
        k = len(captions)
        main = objs[k] if k < len(objs) else objs[int(rng.integers(len(objs)))]
        other = [o for o in objs if o is not main]
        place, when = _pick(rng, _PLACE[spec.scene]), _pick(rng, _TIME_PP[spec.time])
        template = int(rng.integers(5 if k < len(objs) else 6))  # 5: scene only
        if template == 3 and not other:
            template = 0
        if template == 0:
            c = f"{_object_np(main, rng)} {place} {when}"
        elif template == 1:
            c = f"{_pick(rng, _SCENE_NP[spec.scene])} with {_object_np(main, rng)} {when}"
        elif template == 2:
            c = f"{_object_np(main, rng)} {_pick(rng, _VERB[main.name])} {place}"
        elif template == 3:
            c = f"{_object_np(main, rng)} and {_object_np(other[0], rng, colour=False)} {place}"
        elif template == 4:
            c = f"{when}, {_object_np(main, rng, colour=False)} {place}"
        else:
            c = f"{_pick(rng, _SCENE_NP[spec.scene])} {when}"
            if rng.random() < 0.5:
                c = f"a view of {c}"
        c = c.strip()
        if c not in captions:
            captions.append(c)
    # a tiny scene can run out of distinct phrasings: pad with explicit variants
    k = 0
    while len(captions) < n_captions:
        k += 1
        captions.append(f"{_SCENE_NP[spec.scene][0]} {_TIME_PP[spec.time][0]} ({k})")

    sentences = [
        f"This picture shows {_pick(rng, _SCENE_NP[spec.scene])} {_pick(rng, _TIME_PP[spec.time])}."
    ]
    side = "left" if spec.details.get("celestial_x", 0.5) < 0.5 else "right"
    if spec.time == "day":
        clouds = spec.details.get("n_clouds", 0)
        cl = "no clouds" if not clouds else ("a few white clouds" if clouds > 1 else "one cloud")
        sentences.append(f"The sky is bright blue with {cl}, and the sun shines on the {side}.")
    elif spec.time == "sunset":
        sentences.append(
            "The sky glows orange and purple, and a large red sun sits low on the horizon."
        )
    else:
        sentences.append(
            f"The sky is dark and full of stars, and a thin moon shines on the {side}."
        )
    clauses = []
    for o in objs:
        verb = "are" if o.name == "birds" else "is"
        clauses.append(f"{_object_np(o, rng)} {verb} {_pick(rng, _VERB[o.name])} {o.side}")
    if len(clauses) > 2:  # at most 5 sentences: the last two objects share one
        clauses = clauses[:-2] + [f"{clauses[-2]}, and {clauses[-1]}"]
    sentences += [f"{c[0].upper()}{c[1:]}." for c in clauses]
    ground = {
        "beach": "Blue waves roll onto pale yellow sand in the front.",
        "mountain": "Grey peaks with white tops rise behind a green meadow.",
        "city": "Tall buildings line a grey road"
        + (" and many windows are lit." if spec.time == "night" else "."),
        "forest": "Dark green pine trees fill most of the view.",
        "snow": "The ground is covered in white snow with a few pine trees.",
        "desert": "Rippled orange dunes stretch to the horizon with a few green cacti.",
    }[spec.scene]
    sentences.append(ground)
    return captions, " ".join(sentences)
