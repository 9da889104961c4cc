"""The web demo (`python -m hashtag_kit serve`): its JSON API through FastAPI's TestClient and a
real uvicorn server, on the stand-in run of test_recommender (hand-weighted model, stand-in
encoders), with a few test posts as samples; plus the command on notebook 02's smoke run.

The page itself is driven in a real browser in test_browser.py."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_recommender import (
    TOKENS,
    KeywordEncoder,
    MeanColourEncoder,
    _hand_weighted_model,
    write_stage,
)

from hashtag_kit import web_demo
from hashtag_kit.__main__ import main as cli_main
from hashtag_kit.data.posts import Post, write_posts
from hashtag_kit.recommender import Recommender
from hashtag_kit.run import ENCODER_DECODER, PREPROCESS, write_json
from hashtag_kit.web_demo import create_app, load_samples, serving

REPO = Path(__file__).resolve().parent.parent
RED, BLUE, GREEN = (230, 10, 10), (10, 10, 230), (10, 230, 10)
#: the stand-in demo's photo limit: small, so that the 413 tests need no big files
LIMIT = 300_000


def png_bytes(rgb, size=(40, 32), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), rgb, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of `width` x `height` black pixels: a few KB on disk, but PIL would
    decode it to `width * height` bytes (a decompression bomb)."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + the packed row

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def make_demo_run(run: Path) -> Path:
    """The stand-in run of test_recommender plus notebook 01's manifests: three test posts
    (a red "cat" photo, a blue beach photo, one whose photo is missing) as the page's samples."""
    write_stage(run / ENCODER_DECODER, _hand_weighted_model())
    images = run / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / "red.png").write_bytes(png_bytes(RED, (64, 48)))
    (images / "blue.jpg").write_bytes(png_bytes(BLUE, (48, 64), fmt="JPEG"))
    posts = [
        Post("p_red", ["cat"], "u1", str(images / "red.png"), "my cat"),
        Post("p_blue", ["beach", "sunset"], "u2", str(images / "blue.jpg"), "a day at the beach"),
        Post("p_gone", ["dog"], "u1", str(images / "gone.png"), "my dog"),
        Post("p_train", ["food"], "u1", str(images / "red.png"), "lunch"),
    ]
    write_posts(run / PREPROCESS / "posts.jsonl", posts)
    splits = {"train": ["p_train"], "val": [], "test": ["p_red", "p_gone", "p_blue"]}
    write_json(run / PREPROCESS / "splits.json", {"random": splits})
    return run


def standin_recommender(run: Path, image_encoder=None) -> Recommender:
    return Recommender.load(
        run, image_encoder=image_encoder or MeanColourEncoder(), text_encoder=KeywordEncoder()
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    return make_demo_run(tmp_path_factory.mktemp("demo_run"))


@pytest.fixture(scope="module")
def rec(demo_run) -> Recommender:
    return standin_recommender(demo_run)


@pytest.fixture(scope="module")
def client(demo_run, rec):
    app = create_app(rec, samples=load_samples(demo_run), max_upload_bytes=LIMIT)
    with TestClient(app) as c:
        yield c


def tags(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [h["tag"] for h in response.json()["hashtags"]]


def error(response, status: int) -> str:
    """The message of a JSON error answer with `status` (never a 500, never HTML)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and body["error"].strip(), body
    return body["error"]


# -- page and samples ------------------------------------------------------------------------------
def test_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Hashtag suggestions" in page.text and 'src="static/demo.js"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("demo.js", "demo.css", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    # no CDN, no network at run time: nothing in the page's files points off the server
    for f in web_demo.STATIC_DIR.iterdir():
        text = f.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "://" not in text and "//cdn" not in text, f
    error(client.get("/static/../web_demo.py"), 404)


def test_samples_are_the_runs_readable_test_posts_served_by_id_only(client, demo_run):
    info = client.get("/info").json()
    assert info["run"] == demo_run.name and info["max_upload_bytes"] == LIMIT
    assert info["image"] and info["text"] and info["vocabulary"] == 7
    assert info["samples_part"] == "test"  # no notebook 02 metrics: the random split's test part
    assert [s["id"] for s in info["samples"]] == ["p_red", "p_blue"]  # p_gone's photo is missing
    red = info["samples"][0]
    assert red["text"] == "my cat" and red["hashtags"] == ["cat"]
    thumb = client.get(red["image"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (64, 48)
    # by id only: a path, a training post or a missing one is an unknown sample
    for bad in ("../images/red.png", str(demo_run / "images" / "red.png"), "p_train", "p_gone"):
        assert "unknown sample" in error(client.get("/samples/image", params={"id": bad}), 404)
        assert "unknown sample" in error(client.post("/recommend", data={"sample": bad}), 404)


def test_samples_come_from_the_split_the_served_model_was_scored_on(tmp_path):
    """Notebook 02's metrics.json names its split: the samples are that split's held-out posts
    (a run whose official test photos are withheld offers its dev photos, and says so)."""
    run = make_demo_run(tmp_path / "run")
    random = {"train": ["p_train"], "val": [], "test": ["p_red", "p_gone", "p_blue"]}
    official = {"train": ["p_red", "p_train"], "val": ["p_blue"], "test": ["p_blue"]}
    write_json(run / PREPROCESS / "splits.json", {"random": random, "official": official})
    assert [s.id for s in load_samples(run)] == ["p_red", "p_blue"]  # no record: random split
    write_json(run / ENCODER_DECODER / "metrics.json", {"split": "official"})
    write_json(run / "run.json", {"official_test_part": "val"})
    samples = load_samples(run)
    assert [(s.id, s.part) for s in samples] == [("p_blue", "dev")]
    assert load_samples(run, split="random")[0].part == "test"


# -- recommending ----------------------------------------------------------------------------------
def test_an_upload_gets_exactly_the_recommenders_answer(client, rec, tmp_path):
    photo = tmp_path / "red.png"
    photo.write_bytes(png_bytes(RED))
    got = client.post(
        "/recommend",
        files={"image": ("red.png", photo.read_bytes(), "image/png")},
        data={"text": "my cat", "existing": "#Kitten", "k": "3"},
    )
    want = rec.recommend(image=str(photo), text="my cat", existing="#Kitten", k=3).to_dict()
    assert got.status_code == 200 and got.json() == want
    assert set(got.json()) == {"hashtags", "notes", "unknown", "cold_start"}
    assert tags(got)[0] == "cat" and "kitten" not in tags(got)
    assert tags(client.post("/recommend", data={"text": "morning coffee", "k": "2"})) == [
        "coffee",
        "food",
    ]
    # a sample is read as the same file uploaded
    assert tags(client.post("/recommend", data={"sample": "p_blue", "k": "2"})) == [
        "beach",
        "sunset",
    ]
    # a form whose file field was left empty is a post without a photo
    empty_field = {"image": ("", b"", "application/octet-stream")}
    assert (
        tags(client.post("/recommend", files=empty_field, data={"text": "coffee"}))[0] == "coffee"
    )


def test_accepting_re_ranks_the_rest_and_never_repeats_a_tag(client):
    before = client.post("/recommend", data={"text": "coffee", "k": "4"}).json()["hashtags"]
    assert [h["tag"] for h in before[:2]] == ["coffee", "food"]
    after = client.post("/recommend", data={"text": "coffee", "k": "4", "accepted": "coffee"})
    assert tags(after)[0] == "food" and "coffee" not in tags(after)
    food_before = next(h["score"] for h in before if h["tag"] == "food")
    assert after.json()["hashtags"][0]["score"] > food_before / (1 - before[0]["score"])
    both = client.post("/recommend", data={"text": "coffee", "accepted": "coffee, #Food"})
    assert not {"coffee", "food"} & set(tags(both)) and len(set(tags(both))) == len(tags(both))


def test_history_personalises_an_unknown_user(client):
    cold = client.post("/recommend", data={"text": "beach", "user": "newbie", "k": "3"}).json()
    assert cold["cold_start"] and "newbie" in cold["notes"][0]
    data = {"text": "beach", "user": "newbie", "k": "3", "history": "dog,beach"}
    warm = client.post("/recommend", data=data)
    assert not warm.json()["cold_start"] and tags(warm)[0] == "dog"
    known = client.post("/recommend", data={"text": "beach", "user": "dog_person", "k": "3"})
    assert tags(known) == tags(warm)
    # a blank history field is no history: the known user keeps the stored one
    assert tags(client.post("/recommend", data={**data, "user": "dog_person", "history": " "}))[0]


def test_tags_outside_the_vocabulary_are_reported(client):
    data = {"text": "cat", "existing": "snowboarding", "accepted": "zzz", "history": "qqq,dog"}
    got = client.post("/recommend", data=data).json()
    assert got["unknown"] == {"existing": ["snowboarding"], "accepted": ["zzz"], "history": ["qqq"]}
    assert all(w in " ".join(got["notes"]) for w in ("snowboarding", "zzz", "qqq"))


# -- bad requests ----------------------------------------------------------------------------------
def _truncated_png() -> bytes:
    data = png_bytes(RED, (200, 160))
    return data[: len(data) // 2]


BAD_UPLOADS = {  # name -> (file bytes, status, words of the message)
    "not an image": (b"hello, I am a text file\n" * 20, 415, "not an image"),
    "random bytes": (bytes(range(256)) * 4, 415, "not an image"),
    "empty file": (b"", 422, "empty file"),
    "truncated PNG": (_truncated_png(), 422, "truncated"),
    "truncated JPEG": (png_bytes(RED, (200, 160), "JPEG")[:300], 422, "truncated"),
    "decompression bomb": (png_bomb(20_000, 20_000), 413, "too large"),
    "too many pixels": (png_bomb(10_000, 10_000), 413, "megapixels"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_each_bad_upload_gets_its_4xx_and_a_clear_message(client, case):
    data, status, words = BAD_UPLOADS[case]
    assert len(data) < LIMIT
    got = client.post("/recommend", files={"image": ("photo.jpg", data, "image/jpeg")})
    message = error(got, status)
    assert words in message and "photo.jpg" in message, message
    assert "/tmp" not in message and "hashtag_kit_upload" not in message  # no server paths


def test_bad_posts_and_fields_get_a_4xx_and_a_clear_message(client):
    post = client.post
    assert "empty post" in error(post("/recommend", data={"text": "   "}), 422)
    assert "empty post" in error(post("/recommend", data={}), 422)
    assert "empty post" in error(post("/recommend", json={"text": "cat"}), 422)
    for k in ("0", "51", "many", "2.5"):
        assert "k must be" in error(post("/recommend", data={"text": "cat", "k": k}), 422)
    photo = {"image": ("red.png", png_bytes(RED), "image/png")}
    both = post("/recommend", files=photo, data={"sample": "p_red"})
    assert "not both" in error(both, 422)
    assert "image" in error(post("/recommend", data={"image": "not a file", "text": "x"}), 422)
    # text that is not UTF-8, and a body that is not multipart: answered, never a 500
    multipart = {"content-type": "multipart/form-data; boundary=xx"}
    field = b"--xx\r\nContent-Disposition: form-data; name=text\r\n\r\n\xff\xfe cat\r\n--xx--"
    for body in (field, b"--", b"\x00" * 100):
        got = post("/recommend", content=body, headers=multipart)
        assert got.status_code == 200 or 400 <= got.status_code < 500, got.text
        assert got.status_code == 200 or error(got, got.status_code)
    error(client.get("/recommend"), 405)
    error(client.get("/nothing-here"), 404)
    # a field of more tags than a person types is refused before any work
    many = ",".join(f"t{i}" for i in range(web_demo.MAX_TAGS + 1))
    for field in ("existing", "accepted", "history"):
        message = error(post("/recommend", data={"text": "cat", field: many}), 422)
        assert f"{field}: at most {web_demo.MAX_TAGS} tags, got {web_demo.MAX_TAGS + 1}" in message
    # so is a caption longer than a person writes (the form parser lets a megabyte through)
    longest = "cat " * (web_demo.MAX_TEXT_CHARS // 4)
    assert post("/recommend", data={"text": longest}).status_code == 200
    message = error(post("/recommend", data={"text": longest + "x"}), 422)
    assert f"text: at most {web_demo.MAX_TEXT_CHARS:,} characters, got 20,001" in message
    assert client.get("/info").json()["max_text_chars"] == web_demo.MAX_TEXT_CHARS


def test_a_body_cut_short_is_refused_not_read_in_part(client):
    # the form parser takes a truncated body's fields as far as they go (a cut caption, a
    # default k): the demo refuses a multipart body without its closing boundary
    parts = [("text", "a red sunset over the sea"), ("k", "3")]
    body = b"".join(
        b"--b0\r\nContent-Disposition: form-data; name=%s\r\n\r\n%s\r\n" % (n.encode(), v.encode())
        for n, v in parts
    )
    body += b"--b0--\r\n"
    headers = {"content-type": "multipart/form-data; boundary=b0"}
    assert len(tags(client.post("/recommend", content=body, headers=headers))) == 3
    for cut in (40, 70, len(body) - 20, len(body) - 4):  # in the caption, in k, at the end
        got = client.post("/recommend", content=body[:cut], headers=headers)
        assert "ends before its closing boundary" in error(got, 400)

    def chunks():  # the closing boundary split across chunks, then an epilogue: complete
        for i in range(0, len(body), 5):
            yield body[i : i + 5]
        yield b"an epilogue (RFC 2046 allows one)\r\n"

    assert len(tags(client.post("/recommend", content=chunks(), headers=headers))) == 3


def test_uploads_over_the_limit_get_413(client):
    # just over the photo limit (the form's allowance lets it through to the check)
    over = png_bytes(RED) + b"\x00" * LIMIT
    message = error(client.post("/recommend", files={"image": ("big.png", over, "image/png")}), 413)
    assert "big.png" in message and "0.3 MB" in message
    # far over: refused by its Content-Length, before the body is read
    huge = b"\x00" * (LIMIT + web_demo.FORM_ALLOWANCE + 1)
    message = error(
        client.post("/recommend", files={"image": ("huge.png", huge, "image/png")}), 413
    )
    assert "too large" in message and "0.3 MB" in message

    def chunks():  # streamed without a Content-Length: refused once the limit is passed
        yield b"--b\r\nContent-Disposition: form-data; name=image; filename=s.png\r\n\r\n"
        for _ in range(20):
            yield b"\x00" * 50_000

    headers = {"content-type": "multipart/form-data; boundary=b"}
    assert "too large" in error(client.post("/recommend", content=chunks(), headers=headers), 413)
    assert tags(client.post("/recommend", data={"text": "cat"}))  # and the server goes on


# -- concurrency on a real server ------------------------------------------------------------------
def test_concurrent_requests_all_succeed(demo_run, rec):
    app = create_app(rec, samples=load_samples(demo_run), max_upload_bytes=LIMIT)
    jobs = [
        ({"text": "coffee", "k": "2"}, None, ["coffee", "food"]),
        ({"k": "2"}, png_bytes(RED), ["cat", "kitten"]),
        ({"k": "2"}, png_bytes(BLUE, (300, 200), "JPEG"), ["beach", "sunset"]),
        ({"sample": "p_red", "k": "2"}, None, ["cat", "kitten"]),
        ({"text": "coffee", "accepted": "coffee", "k": "1"}, None, ["food"]),
    ] * 4

    def call(job):
        data, photo, _ = job
        files = {"image": ("p.img", photo, "application/octet-stream")} if photo else None
        with httpx.Client(base_url=url, timeout=60) as http:
            return tags(http.post("/recommend", data=data, files=files))

    with serving(app) as url, ThreadPoolExecutor(8) as pool:
        got = list(pool.map(call, jobs))
    assert got == [want for _, _, want in jobs]


class GatedColourEncoder(MeanColourEncoder):
    """MeanColourEncoder that holds every green image until `release` is set (a slow photo)."""

    def __init__(self):
        super().__init__()
        self.holding, self.release = threading.Event(), threading.Event()

    def encode(self, images):
        if any(np.asarray(im)[..., 1].mean() > 128 for im in images):
            self.holding.set()
            self.release.wait(60)
        return super().encode(images)


def test_a_slow_request_does_not_hold_up_fast_ones(demo_run):
    encoder = GatedColourEncoder()
    app = create_app(standin_recommender(demo_run, encoder), max_upload_bytes=LIMIT)
    green = {"image": ("green.png", png_bytes(GREEN), "image/png")}

    trickled = httpx.Request("POST", "http://demo/recommend", files=green, data={"k": "1"})

    def slow_upload():  # a client that sends its photo slowly
        body = trickled.read()
        for i in range(0, len(body), 64):
            time.sleep(0.05)
            yield body[i : i + 64]

    with serving(app) as url, ThreadPoolExecutor(4) as pool, httpx.Client(timeout=60) as http:
        slow = pool.submit(http.post, f"{url}/recommend", files=green, data={"k": "1"})
        assert encoder.holding.wait(30), "the slow request never reached the image encoder"
        headers = {"content-type": trickled.headers["content-type"]}
        trickle = pool.submit(http.post, f"{url}/recommend", content=slow_upload(), headers=headers)
        start = time.monotonic()
        for photo in (RED, BLUE):  # photos (decoded and encoded) and texts go through
            files = {"image": ("p.png", png_bytes(photo), "image/png")}
            assert len(tags(http.post(f"{url}/recommend", files=files, data={"k": "1"}))) == 1
        assert tags(http.post(f"{url}/recommend", data={"text": "coffee", "k": "1"})) == ["coffee"]
        assert time.monotonic() - start < 10
        assert not slow.done() and not trickle.done()
        encoder.release.set()
        assert tags(slow.result(30)) and tags(trickle.result(30))


def test_the_model_is_loaded_and_warmed_up_once_at_startup(demo_run):
    encoder = MeanColourEncoder()
    rec = standin_recommender(demo_run, encoder)
    app = create_app(rec, max_upload_bytes=LIMIT)
    assert encoder.calls == 1  # the warm-up
    with TestClient(app) as c:
        for _ in range(3):
            tags(c.post("/recommend", files={"image": ("r.png", png_bytes(RED), "image/png")}))
    assert encoder.calls == 4 and isinstance(rec.model, web_demo._SerialModel)
    assert rec.model.n_tokens == len(TOKENS)  # every other attribute is the model's own


# -- command line ----------------------------------------------------------------------------------
@pytest.fixture()
def _standin_load(monkeypatch):
    """Make `Recommender.load` inject the stand-in encoders (the command cannot pass them) and
    count the loads; `web_demo._serve` hands the app back instead of serving it."""
    real = Recommender.load.__func__
    served, loads = {}, []

    def load(cls, run, **kw):
        loads.append(run)
        return real(cls, run, image_encoder=MeanColourEncoder(), text_encoder=KeywordEncoder())

    monkeypatch.setattr(Recommender, "load", classmethod(load))
    monkeypatch.setattr(
        web_demo, "serve_app", lambda app, sock: served.update(app=app, address=sock.getsockname())
    )
    return served, loads


def test_serve_command_loads_the_run_once_and_binds_to_localhost(demo_run, _standin_load, capsys):
    served, loads = _standin_load
    assert cli_main(["serve", "--run", str(demo_run), "--port", "0", "--max-upload-mb", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "2 sample posts" in out
    assert served["address"][0] == "127.0.0.1" and loads == [str(demo_run)]
    with TestClient(served["app"]) as c:
        assert c.get("/info").json()["max_upload_bytes"] == 300_000
        assert tags(c.post("/recommend", data={"sample": "p_red", "k": "1"})) == ["cat"]
    # the stage folder works too; it has no manifests beside it, so no samples
    stage = demo_run / ENCODER_DECODER
    assert cli_main(["serve", "--run", str(stage), "--port", "0", "--samples", "0"]) == 0
    assert "0 sample posts" in capsys.readouterr().out


def test_serve_command_user_errors_are_one_line(demo_run, tmp_path, _standin_load, capsys):
    with web_demo.bind("127.0.0.1", 0) as taken:
        busy = str(taken.getsockname()[1])
        taken.listen()
        cases = [
            ["--run", str(tmp_path / "nope"), "--port", "0"],
            ["--run", str(demo_run), "--port", "70000"],
            ["--run", str(demo_run), "--port", "0", "--max-upload-mb", "0"],
            ["--run", str(demo_run), "--port", "0", "--samples", "-1"],
            ["--run", str(demo_run), "--port", "eighty"],
            ["--run", str(demo_run), "--port", busy],
        ]
        for argv in cases:
            assert cli_main(["serve", *argv]) == 2, argv
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and "Traceback" not in err, err
    assert "pick another --port" in err
    assert cli_main(["serve", "--help"]) == 0
    assert "--max-upload-mb" in capsys.readouterr().out


# -- the smoke run of notebook 02 ------------------------------------------------------------------
@pytest.mark.smoke
def test_serve_command_on_the_smoke_runs_trained_model(smoke_notebook, smoke_run_dir, tmp_path):
    """`python -m hashtag_kit serve` on notebook 02's own model.keras with the run's real
    encoders: a sample and the same photo uploaded get the same tags; Add re-ranks; and, when
    headless Chromium is installed (test_browser skips, saying so, when not), the page works."""
    smoke_notebook(ENCODER_DECODER)
    with web_demo.bind("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "hashtag_kit", "serve", "--run", str(smoke_run_dir)]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), "--samples", "3"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            deadline = time.monotonic() + 300
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    info = http.get("/info").json()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start in 5 minutes"
                    time.sleep(0.5)
            assert len(info["samples"]) == 3 and info["image"] and info["text"]
            stage = smoke_run_dir / ENCODER_DECODER
            vocab = set(json.loads((stage / "tags.json").read_text())["tokens"])
            sample = info["samples"][0]
            got = http.post("/recommend", data={"sample": sample["id"], "text": sample["text"]})
            first = tags(got)
            assert len(first) == 7 == len(set(first)) and set(first) <= vocab
            image = next(p for p in _smoke_posts(smoke_run_dir) if p.id == sample["id"]).image
            photo = {"image": ("photo", Path(image).read_bytes(), "image/jpeg")}
            assert http.post("/recommend", files=photo, data={"text": sample["text"]}).json() == (
                got.json()
            )
            data = {"sample": sample["id"], "text": sample["text"], "accepted": first[0]}
            after = tags(http.post("/recommend", data=data))
            assert first[0] not in after and len(after) == 7
            not_image = {"image": ("x.jpg", b"no" * 99, "image/jpeg")}
            assert "not an image" in error(http.post("/recommend", files=not_image), 415)
        _page_on_a_trained_run(url, first, tmp_path / "web_demo_smoke_run.png")
    finally:
        proc.terminate()
        proc.wait(30)


def _page_on_a_trained_run(url: str, first: list[str], screenshot: Path) -> None:
    """The page in headless Chromium: the first sample gets `first`; Add re-ranks."""
    from headless_chromium import (
        accepted,
        console_errors,
        error_text,
        find_chromium,
        open_page,
        start_chromium,
        until_tags_change,
        wait,
    )
    from selenium.webdriver.common.by import By

    found = find_chromium()
    if isinstance(found, str):
        return  # test_browser reports the missing browser as a skip
    d = start_chromium(*found)
    try:
        open_page(d, url)
        d.find_element(By.CSS_SELECTOR, "#samples button.sample").click()
        assert until_tags_change(d, [], "suggestions for a sample") == first
        d.find_element(By.CSS_SELECTOR, "#suggestions li button.add").click()
        wait(d, lambda d: accepted(d) == first[:1], "the first suggestion accepted")
        after = until_tags_change(d, first, "re-ranked after Add")
        assert first[0] not in after and not error_text(d) and not console_errors(d)
        d.save_screenshot(str(screenshot))
    finally:
        d.quit()


def _smoke_posts(run_dir: Path):
    from hashtag_kit.run import RunDir

    return RunDir(run_dir).split_posts("random")["test"]
