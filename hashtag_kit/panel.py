"""An ipywidgets panel for hashtag suggestions inside JupyterLab: the web demo, in notebook 02.

Upload a photo (or pick one of the run's test photos), type a caption and, optionally, a user id
or the user's earlier hashtags: the suggestions appear as buttons labelled with tag and score.
Clicking one adds it to the row of accepted tags and re-ranks the rest
(`Recommender.recommend(..., accepted=[...])`, the CNN-RNN Instagram project's "Add");
clicking an accepted tag removes it and re-ranks. A new photo starts a new post (the accepted
tags are cleared). Notes (a cold-start user, tags outside the vocabulary) and errors (an
unreadable upload, an empty post) are shown as lines of text under the buttons, never as a
traceback.

The logic lives in `HashtagPanelState`, which needs no ipywidgets (tests drive it, and the
headless fallback uses it); `HashtagPanel` wires the widgets to it.

Headless fallback: papermill and plain python have no widget front end, so
`show_hashtag_panel(..., interactive=False)` (or `interactive=True` outside a Jupyter kernel)
prints a scripted interaction instead (`scripted_interaction`); notebook 02's `INTERACTIVE`
parameter chooses (`python -m hashtag_kit reproduce` and the smoke tests set it False). The
displayed widget carries the same transcript as its `text/plain` form, so a front end that cannot
draw widgets (a notebook viewer, a headless run with `INTERACTIVE=True`) still shows it.

Example (in JupyterLab):
    >>> rec = Recommender.load("outputs/default")                         # doctest: +SKIP
    >>> show_hashtag_panel(rec, samples=test_posts[:12],
    ...                    text="sunset at the beach")                    # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from hashtag_kit.data.images import ImageError, load_image, read_image
from hashtag_kit.recommender import Recommendations, Recommender

log = logging.getLogger("hashtag_kit")

#: the first line of the static (headless) panel's output
STATIC_HEADER = "Hashtag panel, static: a scripted interaction"
#: what the panel says when there is nothing to recommend for yet
EMPTY_POST = "Upload a photo, pick a sample or type a caption to get suggestions."


def _one_line(e: BaseException) -> str:
    """An exception as one line for the panel: the kit's errors already say what to do."""
    msg = " ".join(str(e).split())
    if isinstance(e, (ValueError, RuntimeError, OSError)):  # ImageError is a ValueError
        return f"error: {msg}"
    return f"error: {type(e).__name__}: {msg}"


def decode_upload(name: str, content: bytes | memoryview) -> np.ndarray:
    """An uploaded file's bytes as a uint8 (H, W, 3) image, read as the kit reads any image
    (`hashtag_kit.data.images.load_image`: EXIF orientation, colour modes, decompression bombs).

    Raises:
        ImageError: naming the uploaded file and what is wrong with it.
    """
    suffix = Path(name).suffix if len(Path(name).suffix) <= 8 else ""
    with tempfile.TemporaryDirectory(prefix="hashtag_kit_upload_") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(bytes(content))
        try:
            return load_image(path)
        except ImageError as e:
            raise ImageError(f"uploaded file {name!r}", e.reason) from None


def sample_options(samples: Iterable) -> list[tuple[str, str]]:
    """`(label, image path)` pairs for the sample Dropdown from posts (`Post` with an image),
    paths, or `(label, path)` pairs; posts without an image are left out."""
    out = []
    for s in samples:
        if isinstance(s, tuple) and len(s) == 2:
            label, path = s
        elif isinstance(s, (str, Path)):
            label, path = Path(s).name, s
        elif getattr(s, "image", None):
            label, path = f"post {s.id}: {Path(s.image).name}", s.image
        else:
            continue
        out.append((str(label), str(path)))
    return out


class HashtagPanelState:
    """What the panel shows, and the actions its widgets call; no widgets involved.

    Args:
        recommender: a `Recommender` (`Recommender.load(run_dir)`).
        k: how many suggestions.
        beam_width: beam search width.

    Attributes:
        image: the photo as a uint8 (H, W, 3) array, or None; `image_label` names it.
        text, user, history: the caption, the author id, and the author's earlier hashtags
            (comma separated); blank means none.
        accepted: the tags added so far, in order.
        result: the current `Recommendations`.
        image_error: why the last photo could not be used (None once a photo is read).
        error: why the last re-ranking failed, or None.

    Example:
        >>> state = HashtagPanelState(rec, k=5)                          # doctest: +SKIP
        >>> state.text = "sunset at the beach"; state.refresh().tags     # doctest: +SKIP
        ['beach', 'sunset', 'sea', 'summer', 'travel']
        >>> state.add("beach").tags                                      # doctest: +SKIP
        ['sunset', 'sea', 'waves', 'summer', 'travel']
    """

    def __init__(self, recommender: Recommender, k: int = 7, beam_width: int = 3) -> None:
        self.recommender = recommender
        self.k = k
        self.beam_width = beam_width
        self.image: np.ndarray | None = None
        self.image_label: str | None = None
        self.text = ""
        self.user = ""
        self.history = ""
        self.accepted: list[str] = []
        self.result = Recommendations()
        self.image_error: str | None = None
        self.error: str | None = None

    # -- inputs -----------------------------------------------------------------------------
    def set_image(self, image, label: str | None = None) -> bool:
        """Use a photo (a path, an (H, W, 3) array, or None for none); a new photo starts a
        new post, so the accepted tags are cleared. An unreadable file leaves no photo and
        says why in `image_error`. Returns whether a photo is now set."""
        self.accepted = []
        self.image, self.image_label, self.image_error = None, None, None
        if image is None:
            return False
        try:
            arr = read_image(image, where=label or "image")
        except (ImageError, ValueError) as e:
            self.image_error = _one_line(e)
            return False
        if not label:
            label = Path(image).name if isinstance(image, (str, Path)) else "image array"
        self.image, self.image_label = arr, label
        return True

    def set_upload(self, name: str, content: bytes | memoryview) -> bool:
        """Use an uploaded file's bytes as the photo (see `set_image`, `decode_upload`)."""
        try:
            arr = decode_upload(name, content)
        except ImageError as e:
            self.set_image(None)
            self.image_error = _one_line(e)
            return False
        return self.set_image(arr, label=f"upload {name}")

    @property
    def is_empty(self) -> bool:
        return self.image is None and not self.text.strip()

    # -- actions ----------------------------------------------------------------------------
    def refresh(self) -> Recommendations:
        """Re-rank for the current photo, caption, user, history and accepted tags."""
        self.error = None
        if self.is_empty:
            self.result = Recommendations()
            return self.result
        try:
            self.result = self.recommender.recommend(
                image=self.image,
                text=self.text if self.text.strip() else None,
                user=self.user.strip() or None,
                history=self.history if self.history.strip() else None,
                accepted=self.accepted,
                k=self.k,
                beam_width=self.beam_width,
            )
        except Exception as e:  # the panel's boundary: a message, never a traceback
            log.debug("hashtag panel: recommend failed", exc_info=True)
            self.result, self.error = Recommendations(), _one_line(e)
        return self.result

    def add(self, tag: str) -> Recommendations:
        """Accept a suggestion ("Add"): it conditions the model, and the rest are re-ranked."""
        norm = self.recommender.normalise_existing([tag], "accepted")
        tag = norm[0] if norm else ""
        if tag and tag not in self.accepted:
            self.accepted.append(tag)
        return self.refresh()

    def remove(self, tag: str) -> Recommendations:
        """Take back an accepted tag and re-rank."""
        self.accepted = [t for t in self.accepted if t != tag]
        return self.refresh()

    # -- what to show -----------------------------------------------------------------------
    @property
    def messages(self) -> list[str]:
        """Lines under the buttons: errors first, then the recommender's notes."""
        out = [m for m in (self.image_error, self.error) if m]
        if self.is_empty and not out:
            out.append(EMPTY_POST)
        return out + [f"note: {n}" for n in self.result.notes]

    def describe(self) -> str:
        """The suggestions, accepted tags and messages as text lines."""
        sugg = "  ".join(f"#{t} {s:.2f}" for t, s in self.result) or "(none)"
        lines = [f"suggestions: {sugg}"]
        if self.accepted:
            lines.append("accepted:    " + " ".join(f"#{t}" for t in self.accepted))
        return "\n".join(lines + self.messages)


def scripted_interaction(
    recommender: Recommender,
    image=None,
    text: str | None = None,
    *,
    user: str | None = None,
    k: int = 7,
    beam_width: int = 3,
    adds: int = 2,
    header: str | None = STATIC_HEADER,
) -> str:
    """The panel's interaction, scripted: suggestions for `image` and `text`, then after each
    of `adds` Adds (the top suggestion each time), then after removing the first accepted tag.

    The same `HashtagPanelState` the widgets drive, so the transcript is what a user clicking
    the top button would see.
    """
    state = HashtagPanelState(recommender, k=k, beam_width=beam_width)
    state.set_image(image)
    state.text, state.user = text or "", user or ""
    lines = [header] if header else []
    lines.append(
        f"photo: {state.image_label or '(none)'} | caption: {state.text!r}"
        + (f" | user: {state.user}" if state.user else "")
    )
    state.refresh()
    lines.append(state.describe())
    for _ in range(adds):
        if not state.result:
            break
        tag = state.result.tags[0]
        state.add(tag)
        lines += [f"[Add #{tag}]", state.describe()]
    if state.accepted:
        tag = state.accepted[0]
        state.remove(tag)
        lines += [f"[Remove #{tag}]", state.describe()]
    return "\n".join(lines)


def has_widget_front_end() -> bool:
    """Whether widgets can be shown: ipywidgets is installed and code runs in a Jupyter kernel.

    A kernel is the most that can be checked from inside: a kernel started by papermill looks
    like JupyterLab's, which is why notebook 02 also has its `INTERACTIVE` parameter.
    """
    try:
        # lazy: only inside Jupyter
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class HashtagPanel:
    """The ipywidgets panel: photo upload, sample photos, caption, user, history, and the
    suggestions as buttons; each widget event updates a `HashtagPanelState` and redraws.

    Args:
        recommender: a `Recommender`, or a `HashtagPanelState` to drive.
        samples: sample photos for the Dropdown (posts with an image, paths, or
            `(label, path)` pairs; see `sample_options`).
        text: the caption to start with.
        sample: the sample photo to start with (one of `samples`' paths), or None.
        k, beam_width: as in `Recommender.recommend`.
        fallback_text: the `text/plain` form of the displayed panel, for front ends that
            cannot draw widgets (`show_hashtag_panel` gives it `scripted_interaction`).

    Attributes (the widgets): `upload` (FileUpload), `sample` (Dropdown), `preview` (Image),
    `caption` (Textarea), `user`, `history` (Text), `suggestions`, `accepted` (boxes of
    Buttons), `messages` (HTML), and `widget`, the whole panel (VBox).
    """

    def __init__(
        self,
        recommender,
        samples: Sequence = (),
        text: str = "",
        sample: str | None = None,
        k: int = 7,
        beam_width: int = 3,
        fallback_text: str | None = None,
    ) -> None:
        # lazy: only inside Jupyter
        import ipywidgets as w

        self._w = w
        self.state = recommender
        if not isinstance(recommender, HashtagPanelState):
            self.state = HashtagPanelState(recommender, k=k, beam_width=beam_width)
        self.state.text = text or self.state.text
        self.fallback_text = fallback_text
        self._setting_sample = False  # True while the upload handler resets the Dropdown
        self._preview_of = None  # the photo the preview shows
        field = {"continuous_update": False, "layout": w.Layout(width="100%")}
        wrap = w.Layout(flex_flow="row wrap")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Upload photo")
        self.sample = w.Dropdown(
            options=[("(no sample photo)", None), *sample_options(samples)],
            value=None,
            description="or sample",
            layout=w.Layout(width="auto"),
        )
        if sample is not None:
            sample = str(sample)
            self.sample.value = sample  # (a path not among the samples is a TraitError)
            self.state.set_image(sample, label=self._sample_label(sample))
        self.preview = w.Image(format="png", layout=w.Layout(max_width="180px", display="none"))
        self.caption = w.Textarea(
            value=self.state.text, placeholder="Enter some text", description="Caption", **field
        )
        self.user = w.Text(
            placeholder="author id (optional: personalises for a user the model knows)",
            description="User",
            **field,
        )
        self.history = w.Text(
            placeholder="the author's earlier hashtags, comma separated (optional)",
            description="History",
            **field,
        )
        self.suggestions = w.HBox(layout=wrap)
        self.accepted = w.HBox(layout=wrap)
        self.messages = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([w.VBox([self.upload, self.sample]), self.preview]),
                self.caption,
                self.user,
                self.history,
                w.HTML("<b>Suggestions</b> (click to add)"),
                self.suggestions,
                w.HTML("<b>Accepted</b> (click to remove)"),
                self.accepted,
                self.messages,
            ]
        )
        self.upload.observe(self._on_upload, names="value")
        self.sample.observe(self._on_sample, names="value")
        for field in (self.caption, self.user, self.history):
            field.observe(self._on_text, names="value")
        self.refresh()

    # -- event handlers ---------------------------------------------------------------------
    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:  # cleared
            return
        f = files[0]
        self.state.set_upload(f.get("name", "upload"), f["content"])
        self._setting_sample = True  # the photo is the upload now, not a sample
        try:
            self.sample.value = None
        finally:
            self._setting_sample = False
        self.refresh()

    def _on_sample(self, change) -> None:
        if self._setting_sample:
            return
        path = change["new"]
        self.state.set_image(path, label=self._sample_label(path))
        self.refresh()

    def _sample_label(self, path: str | None) -> str | None:
        return next((lbl for lbl, p in self.sample.options if p == path and p), None)

    def _on_text(self, _change=None) -> None:
        self.state.text = self.caption.value
        self.state.user = self.user.value
        self.state.history = self.history.value
        self.refresh()

    def add(self, tag: str) -> None:
        self.state.add(tag)
        self.render()

    def remove(self, tag: str) -> None:
        self.state.remove(tag)
        self.render()

    def refresh(self) -> None:
        """Re-rank and redraw."""
        self.state.refresh()
        self.render()

    # -- drawing ----------------------------------------------------------------------------
    def _button(self, description: str, tooltip: str, style: str, action, tag: str):
        b = self._w.Button(
            description=description,
            tooltip=tooltip,
            button_style=style,
            layout=self._w.Layout(width="auto"),
        )
        b.on_click(lambda _b: action(tag))
        return b

    def render(self) -> None:
        """Draw the state: the preview, the buttons and the messages."""
        s = self.state
        self.suggestions.children = [
            self._button(f"#{t} {score:.2f}", f"add #{t}", "", self.add, t) for t, score in s.result
        ]
        self.accepted.children = [
            self._button(f"#{t} ✕", f"remove #{t}", "success", self.remove, t) for t in s.accepted
        ]
        self.messages.value = "".join(
            f'<div style="color:{"#b00" if m.startswith("error") else "#555"}">'
            f"{html.escape(m)}</div>"
            for m in s.messages
        )
        if s.image is None:
            self.preview.layout.display = "none"
        elif self._preview_of is not s.image:  # a new photo: a new thumbnail
            self.preview.value = _png_thumbnail(s.image)
            self.preview.layout.display = None
        self._preview_of = s.image

    @property
    def suggestion_labels(self) -> list[str]:
        return [b.description for b in self.suggestions.children]

    @property
    def accepted_labels(self) -> list[str]:
        return [b.description for b in self.accepted.children]

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.fallback_text or (
            "Hashtag panel (an ipywidgets panel: open the notebook in JupyterLab to use it)\n"
            + self.state.describe()
        )
        return bundle


def _png_thumbnail(image: np.ndarray, side: int = 180) -> bytes:
    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def show_hashtag_panel(
    recommender: Recommender,
    samples: Sequence = (),
    text: str = "",
    *,
    k: int = 7,
    beam_width: int = 3,
    interactive: bool = True,
) -> HashtagPanel | None:
    """Notebook 02's panel on the first sample photo and `text`: with `interactive` and a widget
    front end (`has_widget_front_end`), a `HashtagPanel` displayed and returned; otherwise the
    scripted interaction printed (`STATIC_HEADER` first) and None: nothing waits for a click.
    """
    options = sample_options(samples)
    first = options[0][1] if options else None
    transcript = scripted_interaction(recommender, first, text, k=k, beam_width=beam_width)
    if interactive and has_widget_front_end():
        # lazy: only inside Jupyter
        from IPython.display import display

        panel = HashtagPanel(
            recommender,
            options,
            text,
            sample=first,
            k=k,
            beam_width=beam_width,
            fallback_text=transcript,
        )
        display(panel)
        return panel
    why = "no widget front end: not in a Jupyter kernel" if interactive else "INTERACTIVE is False"
    print(transcript.replace(STATIC_HEADER, f"{STATIC_HEADER} ({why})", 1))
    return None
