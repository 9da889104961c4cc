"""Notebook 02's ipywidgets panel, driven without a browser: the widgets' values are set and
their buttons clicked from Python, on the stand-in model of test_recommender.py."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image
from test_recommender import (  # tests/ is on sys.path
    BLUE,
    RED,
    KeywordEncoder,
    MeanColourEncoder,
    _hand_weighted_model,
    _png,
    write_stage,
)

from hashtag_kit import panel as panel_module
from hashtag_kit.panel import (
    EMPTY_POST,
    STATIC_HEADER,
    HashtagPanel,
    HashtagPanelState,
    scripted_interaction,
    show_hashtag_panel,
)
from hashtag_kit.recommender import Recommender

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("panel_run")
    write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    return run


@pytest.fixture()
def rec(run_dir) -> Recommender:
    return Recommender.load(
        run_dir, image_encoder=MeanColourEncoder(), text_encoder=KeywordEncoder()
    )


def _upload(widget, name: str, content: bytes) -> None:
    """What the browser does when a file is picked: FileUpload.value becomes one file."""
    widget.value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(timezone.utc),
        },
    )


def _png_bytes(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((24, 30, 3), rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _tags(labels: list[str]) -> list[str]:
    return [label.split()[0].lstrip("#") for label in labels]


def _click(box, tag: str) -> None:
    (button,) = [b for b in box.children if b.description.split()[0] == f"#{tag}"]
    button.click()


def test_upload_and_caption_give_suggestion_buttons(rec):
    panel = HashtagPanel(rec, k=4)
    assert panel.suggestion_labels == [] and EMPTY_POST in panel.messages.value
    _upload(panel.upload, "red.png", _png_bytes(RED))
    assert _tags(panel.suggestion_labels)[:2] == ["cat", "kitten"]
    assert panel.state.image_label == "upload red.png"
    assert bytes(panel.preview.value).startswith(b"\x89PNG")  # the photo is shown
    # each button is labelled with its tag and score, best first
    scores = [float(label.split()[1]) for label in panel.suggestion_labels]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    panel.caption.value = "morning coffee"
    assert {"cat", "kitten", "coffee", "food"} == set(_tags(panel.suggestion_labels))
    assert panel.messages.value == ""


def test_clicking_a_suggestion_adds_it_and_re_ranks(rec):
    panel = HashtagPanel(rec, text="coffee", k=4)
    before = dict(panel.state.result)
    assert _tags(panel.suggestion_labels)[0] == "coffee"
    _click(panel.suggestions, "coffee")
    assert panel.accepted_labels == ["#coffee ✕"]
    after = _tags(panel.suggestion_labels)
    assert "coffee" not in after and after[0] == "food"
    # re-ranked, not just filtered: the accepted #coffee conditions the model towards #food
    expected = rec.recommend(text="coffee", k=4, accepted=["coffee"])
    assert panel.state.result == expected
    assert dict(panel.state.result)["food"] > before["food"] / (1 - before["coffee"])
    # a second Add keeps the order of acceptance
    _click(panel.suggestions, "food")
    assert _tags(panel.accepted_labels) == ["coffee", "food"]
    assert not {"coffee", "food"} & set(_tags(panel.suggestion_labels))


def test_clicking_an_accepted_tag_removes_it_and_re_ranks(rec):
    panel = HashtagPanel(rec, text="coffee", k=4)
    first = list(panel.state.result)
    _click(panel.suggestions, "coffee")
    _click(panel.accepted, "coffee")
    assert panel.accepted_labels == [] and panel.state.accepted == []
    assert list(panel.state.result) == first


def test_sample_photo_and_new_photo_starts_a_new_post(rec, tmp_path):
    red, blue = _png(tmp_path / "red.png", RED), _png(tmp_path / "blue.png", BLUE)
    panel = HashtagPanel(rec, samples=[red, ("a beach", blue)], k=2)
    assert [lbl for lbl, _ in panel.sample.options] == ["(no sample photo)", "red.png", "a beach"]
    panel.sample.value = red
    assert _tags(panel.suggestion_labels) == ["cat", "kitten"]
    _click(panel.suggestions, "cat")
    assert panel.state.accepted == ["cat"]
    panel.sample.value = blue
    assert panel.state.accepted == [] and _tags(panel.suggestion_labels) == ["beach", "sunset"]
    assert panel.state.image_label == "a beach"
    # an upload replaces the sample (the Dropdown goes back to none, the photo stays the upload)
    _upload(panel.upload, "r.png", _png_bytes(RED))
    assert panel.sample.value is None and panel.state.image_label == "upload r.png"
    assert _tags(panel.suggestion_labels) == ["cat", "kitten"]


def test_bad_upload_is_a_message_naming_the_file_not_a_traceback(rec):
    panel = HashtagPanel(rec, k=3)
    _upload(panel.upload, "holiday.jpg", b"this is not a picture")
    assert panel.state.image is None and panel.suggestion_labels == []
    msg = panel.messages.value
    assert "holiday.jpg" in msg and "not an image" in msg and "Traceback" not in msg
    # with a caption the panel still works; the message stays until another photo is chosen
    panel.caption.value = "my dog"
    assert _tags(panel.suggestion_labels)[0] == "dog" and "holiday.jpg" in panel.messages.value
    _upload(panel.upload, "empty.png", b"")
    assert "empty.png" in panel.messages.value
    _upload(panel.upload, "ok.png", _png_bytes(RED))
    assert "error" not in panel.messages.value


def test_user_history_notes_and_errors_are_shown(rec):
    panel = HashtagPanel(rec, text="beach", k=3)
    panel.user.value = "nobody"
    assert "cold-start" in panel.messages.value
    panel.history.value = "dog, snowboarding"  # personalises; an unknown tag is named
    assert "snowboarding" in panel.messages.value and "cold-start" not in panel.messages.value
    assert _tags(panel.suggestion_labels)[0] == "dog"
    panel.state.k = 0  # any failure of the recommender is one line, never a traceback
    panel.refresh()
    assert "k must be a positive integer" in panel.messages.value
    assert panel.suggestion_labels == []


def test_state_without_widgets(rec):
    state = HashtagPanelState(rec, k=3)
    assert state.refresh() == [] and state.messages == [EMPTY_POST]
    state.text = "coffee"
    assert state.refresh().tags[0] == "coffee"
    assert "coffee" not in state.add("#Coffee").tags and state.accepted == ["coffee"]
    state.add("coffee")  # twice is once
    assert state.accepted == ["coffee"]
    assert state.remove("coffee").tags[0] == "coffee"
    assert not state.set_image(np.zeros((3, 3), "float32") * np.nan)
    assert "NaN" in state.image_error


def test_scripted_interaction_is_the_panels_clicks(rec, tmp_path):
    red = _png(tmp_path / "red.png", RED)
    text = scripted_interaction(rec, red, "coffee", k=3)
    lines = text.splitlines()
    assert lines[0] == STATIC_HEADER
    assert lines[1] == "photo: red.png | caption: 'coffee'"
    first = rec.recommend(image=red, text="coffee", k=3)
    assert lines[2] == "suggestions: " + "  ".join(f"#{t} {s:.2f}" for t, s in first)
    top = first.tags[0]
    assert lines[3] == f"[Add #{top}]" and lines[5] == f"accepted:    #{top}"
    assert "[Remove #" in text
    # each step matches what the panel shows after the same clicks
    panel = HashtagPanel(rec, samples=[red], text="coffee", k=3)
    panel.sample.value = red
    _click(panel.suggestions, top)
    assert panel.state.describe() in text


def test_fallback_when_not_interactive_or_no_front_end(rec, tmp_path, capsys):
    red = _png(tmp_path / "red.png", RED)
    assert show_hashtag_panel(rec, [red], "coffee", k=3, interactive=False) is None
    out = capsys.readouterr().out
    assert out.startswith(f"{STATIC_HEADER} (INTERACTIVE is False)")
    assert "[Add #" in out and "suggestions: #" in out
    # plain python (no Jupyter kernel): the same static interaction
    assert show_hashtag_panel(rec, [red], "coffee", k=3, interactive=True) is None
    assert "(no widget front end: not in a Jupyter kernel)" in capsys.readouterr().out


def test_panel_displayed_with_the_scripted_interaction_as_plain_text(rec, tmp_path, monkeypatch):
    red = _png(tmp_path / "red.png", RED)
    shown = []
    monkeypatch.setattr(panel_module, "has_widget_front_end", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    panel = show_hashtag_panel(rec, [red], "coffee", k=3, interactive=True)
    assert shown == [panel] and isinstance(panel, HashtagPanel)
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith(STATIC_HEADER) and "[Add #" in bundle["text/plain"]
    # the panel opens on the first sample photo and the caption: the transcript's first step
    assert panel.sample.value == red and panel.caption.value == "coffee"
    assert panel.state.describe().splitlines()[0] in bundle["text/plain"].splitlines()[2]
    assert panel.suggestion_labels and bytes(panel.preview.value).startswith(b"\x89PNG")


def test_reproduce_runs_notebook_02_with_the_static_panel(tmp_path, monkeypatch):
    import papermill

    from tools import reproduce

    seen = {}
    monkeypatch.setattr(
        papermill, "execute_notebook", lambda src, out, parameters, **kw: seen.update(parameters)
    )
    reproduce.execute("02_encoder_decoder_hashtags", tmp_path, "smoke")
    assert seen["INTERACTIVE"] is False and seen["RUN_MODE"] == "smoke"
    seen.clear()  # a -p parameter still wins; other notebooks get no INTERACTIVE
    reproduce.execute("02_encoder_decoder_hashtags", tmp_path, "smoke", {"INTERACTIVE": True})
    assert seen["INTERACTIVE"] is True
    seen.clear()
    reproduce.execute("03_attention_baseline", tmp_path, "smoke")
    assert "INTERACTIVE" not in seen
