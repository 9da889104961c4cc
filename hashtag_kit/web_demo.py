"""A local web demo of a trained run: one page and a JSON API over `Recommender.recommend`.

    python -m hashtag_kit serve --run outputs/default [--host 127.0.0.1] [--port 8000] \
        [--max-upload-mb 10] [--samples 6] [--image-weights F] [--use-v4 D]

then open http://127.0.0.1:8000/ . The page takes a photo (an upload, or one of a few test
posts of the run, shown by id) and a caption, and lists suggested hashtags with their scores.
"Add" moves a tag to the accepted list and re-ranks the rest given it (`accepted`); clicking an
accepted tag removes it and re-ranks again. The page is plain HTML, CSS and JavaScript shipped
in `hashtag_kit/resources/web_demo/`: no CDN, no network, no build step.

API (every error is `{"error": "..."}` with a 4xx status, never a 500 for bad input):

    POST /recommend   multipart/form-data fields, all optional:
        image     the photo (a file); or sample: the id of one of GET /info's samples
        text      the caption
        user      the author's id (personalises a user the model knows)
        existing  tags already typed, comma separated (they condition the model)
        accepted  suggestions accepted so far, comma separated, in order
        history   the user's earlier tags, comma separated (personalises a new user)
        k         how many tags (1-50, default 7)
      -> 200 `Recommendations.to_dict()`:
         {"hashtags": [{"tag", "score"}], "notes": [...], "unknown": {...}, "cold_start": bool}
      -> 413 the upload is over --max-upload-mb, or the image has too many pixels (a
         decompression bomb); 415 not an image; 422 unreadable image, empty post (no photo and
         no caption), a caption over `MAX_TEXT_CHARS` characters, a tags field of more than
         `MAX_TAGS` tags or a bad field; 404 unknown sample; 400 a body that is not
         multipart/form-data or ends before its closing boundary (an interrupted upload: its
         fields are not read in part)
    GET /info         the run's name, the limits, the samples [{"id", "text", "hashtags",
                      "image"}] (`image` is the URL of its thumbnail, GET /samples/image?id=)
                      and "samples_part", the part of the split they come from ("test", or
                      "dev" where the test photos are withheld; null without samples)
    GET /             the page

The model is loaded once at startup and warmed up (its encoders built, one recommendation
made). Requests are served concurrently by uvicorn's threadpool: reading and decoding an upload
and encoding the photo and caption run unlocked, so a slow request never holds up another;
only the decoder's own call (`model.decode`, a few milliseconds) is serialised by a lock, since
Keras does not promise that a model is safe to call from several threads at once.

The server binds to 127.0.0.1 by default: it has no authentication, so expose it with `--host
0.0.0.0` only on a network you trust.

Example:
    >>> from hashtag_kit.recommender import Recommender               # doctest: +SKIP
    >>> app = create_app(Recommender.load("outputs/default"))         # doctest: +SKIP
    >>> with serving(app) as url: ...                                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import ipaddress
import logging
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException as StarletteHTTPException

from hashtag_kit.data.images import (
    ImageError,
    check_image,
    load_image,
    open_image,
    resolve_image_path,
)
from hashtag_kit.data.splits import scored_part
from hashtag_kit.recommender import Recommender, _resolve_stage_dir
from hashtag_kit.run import ENCODER_DECODER, RunDir
from hashtag_kit.text import MAX_TEXT_CHARS  # refused here rather than cut: a person retypes

log = logging.getLogger("hashtag_kit")

#: the page, its script and its style
STATIC_DIR = Path(__file__).parent / "resources" / "web_demo"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
DEFAULT_MAX_UPLOAD_MB = 10.0
#: bytes of form fields (caption, tags, multipart headers) allowed beside the photo
FORM_ALLOWANCE = 256 * 1024
DEFAULT_K, MAX_K = 7, 50
#: the most tags one field (existing, accepted, history) may carry: a person types a few
MAX_TAGS = 500
DEFAULT_SAMPLES = 6
THUMBNAIL_SIDE = 320
#: an uploaded image with more pixels than this is refused before it is decoded (PIL's own
#: decompression-bomb threshold, about 89 megapixels; PIL itself only refuses twice that)
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
#: the page loads nothing from elsewhere and runs no inline script
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class DemoError(Exception):
    """A request the demo refuses: an HTTP status and a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Sample:
    """A held-out post of the run shown on the page; its image is served by `id` only. `part`
    is the part of the split it comes from: "test", or "dev" where the test images are withheld
    (`hashtag_kit.data.splits.scored_part`)."""

    id: str
    text: str
    hashtags: list[str]
    image: Path = field(repr=False)
    thumbnail: bytes = field(repr=False)
    part: str = "test"


# -- samples -------------------------------------------------------------------------------------
def _thumbnail(path: Path) -> bytes:
    im = open_image(path, min_side=THUMBNAIL_SIDE)
    im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def load_samples(run_dir: str | Path, n: int = DEFAULT_SAMPLES, split: str | None = None):
    """Up to `n` test posts of the run's `split` with a readable image, as `Sample`s (thumbnails
    made): posts the served model was not trained on.

    `split` None: the split the served model was trained and scored on, as notebook 02's
    metrics.json records it ("random" when it does not; Flickr8k's official split's test part
    is the dev list when the test photos are withheld). A split the run does not have falls
    back to its official one, else its first. `run_dir` may be the run or its stage folder; a
    run without notebook 01's manifests has no samples (the page offers uploads only).
    Unreadable images are skipped and logged.
    """
    if n <= 0:
        return []
    rd = RunDir(_resolve_stage_dir(run_dir, ENCODER_DECODER).parent)
    try:
        splits = rd.load_splits()
        if split is None:
            try:
                split = rd.metrics(ENCODER_DECODER).get("split")
            except (OSError, ValueError, AttributeError):
                split = None
            split = split if isinstance(split, str) else "random"
        if split not in splits:  # e.g. a release with its own split only
            split = "official" if "official" in splits else next(iter(splits))
        parts = rd.split_posts(split)
        meta = rd.meta()
        data_dir = meta.get("data_dir")
        part = scored_part(split, meta.get("official_test_part"))
    except (FileNotFoundError, KeyError, StopIteration, ValueError) as e:
        log.info("no sample posts for the demo page (%s)", " ".join(str(e).split()))
        return []
    out, skipped = [], 0
    for post in parts.get("test", []):
        if len(out) >= n:
            break
        if not post.has_image:
            continue
        try:
            path = Path(post.image)
            if not path.is_absolute():  # manifests hold absolute paths; older ones may not
                if not data_dir:
                    raise ImageError(post.image, "relative path and the run names no data_dir")
                path = resolve_image_path(data_dir, post.image)
            problem = check_image(path)
            if problem:
                raise ImageError(path, problem)
            thumb = _thumbnail(path)
        except ImageError as e:
            skipped += 1
            log.info("sample post %s skipped: %s", post.id, e)
            continue
        out.append(Sample(post.id, post.text or "", list(post.hashtags), path, thumb, part))
    if skipped:
        log.warning("sample posts skipped, their images are unreadable: %d", skipped)
    return out


# -- uploads -------------------------------------------------------------------------------------
def _mb(n_bytes: float, other: float | None = None) -> str:
    """Bytes in MB, with as many decimals as it takes to tell them from `other`."""
    digits = 1
    while (
        other is not None
        and digits < 6
        and round(n_bytes / 1e6, digits) == round(other / 1e6, digits)
    ):
        digits += 1
    return f"{n_bytes / 1e6:.{digits}f} MB"


def _status_of(reason: str) -> int:
    if reason.startswith("not an image"):
        return 415
    if reason.startswith("image too large"):
        return 413
    return 422


def read_upload(fileobj, name: str, max_bytes: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An uploaded photo as uint8 RGB (H, W, 3), read as `hashtag_kit.data.images.load_image` reads
    a file (EXIF turn, modes converted), or `DemoError` with the status and a message naming `name`:
    413 over `max_bytes` or `max_pixels`, 415 not an image, 422 empty, truncated or corrupt."""
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    if size > max_bytes:
        raise DemoError(
            413, f"{name} is {_mb(size, max_bytes)}: the demo accepts photos up to {_mb(max_bytes)}"
        )
    if size == 0:
        raise DemoError(422, f"{name} is an empty file (0 bytes)")
    with tempfile.TemporaryDirectory(prefix="hashtag_kit_upload_") as tmp:
        path = Path(tmp) / "upload"
        with open(path, "wb") as f:
            shutil.copyfileobj(fileobj, f)
        try:  # the header alone says how big the decoded picture would be
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    width, height = im.size
        except UnidentifiedImageError:
            raise DemoError(
                415, f"{name} is not an image (unknown format): upload a JPEG, PNG or WebP photo"
            ) from None
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError):
            width = height = None  # a bomb or a corrupt header: load_image gives the reason
        if width is not None and width * height > max_pixels:
            raise DemoError(
                413,
                f"{name} is {width} x {height} pixels: the demo decodes images up to "
                f"{max_pixels / 1e6:.0f} megapixels (a decompression bomb?)",
            )
        try:
            return load_image(path)
        except ImageError as e:
            raise DemoError(_status_of(e.reason), f"{name}: {e.reason}") from None


# -- the app -------------------------------------------------------------------------------------
class _SerialModel:
    """The recommender's model with its calls serialised by a lock (see the module docstring)."""

    def __init__(self, model, lock: threading.Lock) -> None:
        self._model, self._lock = model, lock

    def __getattr__(self, name):
        return getattr(self._model, name)

    def decode(self, *args, **kwargs):
        with self._lock:
            return self._model.decode(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._model(*args, **kwargs)


def _closing_delimiter(headers) -> bytes | None:
    """`\\r\\n--<boundary>--`, the end of a multipart/form-data body, or None for any other."""
    value = dict(headers or []).get(b"content-type", b"").decode("latin-1")
    kind, options = parse_options_header(value)
    boundary = options.get(b"boundary")
    return b"\r\n--" + boundary + b"--" if kind == b"multipart/form-data" and boundary else None


class _BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 `{"error": ...}`, before it is
    read when its Content-Length says so, or as soon as a streamed body passes the limit.

    It also watches a multipart body for its closing delimiter: the form parser accepts a body
    cut short and gives the fields read so far (a truncated caption, a default `k`), so
    `scope["state"]["multipart_complete"]` records whether it came, for the handler to refuse.
    """

    def __init__(self, app, max_bytes: int, message: str) -> None:
        self.app, self.max_bytes, self.message = app, max_bytes, message

    async def _refuse(self, scope, receive, send) -> None:
        await JSONResponse({"error": self.message}, status_code=413)(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen, over, started = 0, False, False
        # the tail starts as a line break: a form without fields is only `--<boundary>--`
        closing, tail = _closing_delimiter(scope.get("headers")), b"\r\n"
        state = scope.setdefault("state", {})
        if closing:
            state["multipart_complete"] = False

        async def limited_receive():
            nonlocal seen, over, tail
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                seen += len(body)
                if closing and not state["multipart_complete"]:  # across chunk borders
                    state["multipart_complete"] = closing in tail + body
                    tail = (tail + body)[-len(closing) :]
                if seen > self.max_bytes:
                    over = True
                    raise DemoError(413, self.message)
            return message

        async def tracked_send(message):
            nonlocal started
            if over and not started:
                return  # whatever the app answers to its failed read: the 413 replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await self._refuse(scope, receive, send)


def _tags_field(value: str | None, name: str) -> str | None:
    """A comma-separated tags field, None when blank; more than `MAX_TAGS` tags is a 422."""
    if value is not None and value.count(",") >= MAX_TAGS:
        raise DemoError(422, f"{name}: at most {MAX_TAGS} tags, got {value.count(',') + 1}")
    return value if value and value.strip() else None


def _parse_k(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_K
    try:
        k = int(value)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise DemoError(422, f"k must be a whole number from 1 to {MAX_K}, got {value!r}")
    return k


def create_app(
    recommender: Recommender,
    *,
    samples=(),
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1e6),
    max_pixels: int = MAX_PIXELS,
    run_name: str | None = None,
    warm_up: bool = True,
):
    """The demo's FastAPI app around a loaded `Recommender` (see the module docstring).

    Args:
        recommender: the loaded run; its model is wrapped so that only its calls are
            serialised (`_SerialModel`).
        samples: `Sample`s the page offers (`load_samples`).
        max_upload_bytes: the largest photo accepted (413 above); the whole request body may
            be `FORM_ALLOWANCE` larger.
        max_pixels: the most pixels an uploaded image may decode to (413 above).
        run_name: shown on the page (default: the run folder's name).
        warm_up: make one recommendation now (builds the encoders once, at startup).
    """
    if not isinstance(recommender.model, _SerialModel):
        recommender.model = _SerialModel(recommender.model, threading.Lock())
    if warm_up:  # encoders built, decoder traced: no request pays for it, none builds twice
        has_image = bool(recommender.config.get("image_encoder"))
        image = np.full((64, 64, 3), 127, np.uint8) if has_image else None
        text = "warm up" if recommender.config.get("text_encoder") or not has_image else None
        recommender.recommend(image=image, text=text, k=1)
    by_id = {s.id: s for s in samples}
    if run_name is None:
        source = Path(recommender.source)
        run_name = source.parent.name if source.name.startswith("02_") else source.name
    app = FastAPI(title="hashtag_kit demo", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(DemoError)
    async def _demo_error(request, exc: DemoError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_field(request, exc: RequestValidationError):
        problems = [
            f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return JSONResponse({"error": "bad form: " + "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid multipart/form-data"
        return JSONResponse({"error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):  # never expected: logged by uvicorn as well
        message = f"internal error ({type(exc).__name__}); the server's log has the details"
        return JSONResponse({"error": message}, status_code=500)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/info")
    def info():
        return {
            "run": run_name,
            "vocabulary": len(recommender.tokens) - len(recommender.special_ids),
            "image": bool(recommender.config.get("image_encoder")),
            "text": bool(recommender.config.get("text_encoder")),
            "max_upload_bytes": max_upload_bytes,
            "max_text_chars": MAX_TEXT_CHARS,
            "k": DEFAULT_K,
            "max_k": MAX_K,
            "samples_part": samples[0].part if samples else None,
            "samples": [
                {
                    "id": s.id,
                    "text": s.text,
                    "hashtags": s.hashtags,
                    "image": "samples/image?id=" + quote(s.id, safe=""),
                }
                for s in samples
            ],
        }

    @app.get("/samples/image")
    def sample_image(id: str):
        sample = by_id.get(id)
        if sample is None:
            raise DemoError(404, f"unknown sample {id!r}: GET /info lists the samples")
        return Response(sample.thumbnail, media_type="image/jpeg")

    @app.post("/recommend")
    def recommend(
        request: Request,
        image: Annotated[UploadFile | None, File()] = None,
        sample: Annotated[str | None, Form()] = None,
        text: Annotated[str | None, Form()] = None,
        user: Annotated[str | None, Form()] = None,
        existing: Annotated[str | None, Form()] = None,
        accepted: Annotated[str | None, Form()] = None,
        history: Annotated[str | None, Form()] = None,
        k: Annotated[str | None, Form()] = None,
    ):
        if getattr(request.state, "multipart_complete", None) is False:
            raise DemoError(
                400,
                "the request body is not valid multipart/form-data: it ends "
                "before its closing boundary (an interrupted upload?)",
            )
        n = _parse_k(k)
        if text is not None and len(text) > MAX_TEXT_CHARS:
            raise DemoError(422, f"text: at most {MAX_TEXT_CHARS:,} characters, got {len(text):,}")
        # a form whose file field was left empty sends a part with no name and no bytes
        if image is not None and not image.filename and not image.size:
            image = None
        if image is not None and sample:
            raise DemoError(422, "give either a photo or a sample, not both")
        fields = {"existing": existing, "accepted": accepted, "history": history}
        tags = {name: _tags_field(value, name) for name, value in fields.items()}
        pixels = None
        if image is not None:
            if not recommender.config.get("image_encoder"):
                raise DemoError(422, "this run was trained without images: leave the photo out")
            name = Path(image.filename or "").name[:120] or "the upload"
            pixels = read_upload(image.file, name, max_upload_bytes, max_pixels)
        elif sample:
            chosen = by_id.get(sample)
            if chosen is None:
                raise DemoError(404, f"unknown sample {sample!r}: GET /info lists the samples")
            try:
                pixels = load_image(chosen.image)
            except ImageError as e:  # checked at startup; changed on disk since
                raise DemoError(422, f"sample {chosen.id}: {e.reason}") from None
        try:
            result = recommender.recommend(
                image=pixels,
                text=text,
                user=user.strip() if user and user.strip() else None,
                **tags,
                k=n,
            )
        except ValueError as e:  # empty post, text-only run given a photo, bad tags
            raise DemoError(422, " ".join(str(e).split())) from None
        return result.to_dict()

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    message = f"the request is too large: the demo accepts photos up to {_mb(max_upload_bytes)}"
    app.add_middleware(_BodyLimit, max_bytes=max_upload_bytes + FORM_ALLOWANCE, message=message)
    return app


# -- serving -------------------------------------------------------------------------------------
def bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` (port 0: a free one), IPv4 or IPv6 as `host` is."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app, log_level: str):
    # lazy: only the web demo needs it
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5))


@contextmanager
def serving(app, host: str = DEFAULT_HOST, port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread while the block runs; yields its URL
    (`http://127.0.0.1:<free port>` by default). For tests and notebooks."""
    sock = bind(host, port)
    server = _server(app, "warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="web_demo", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the demo server did not start on {url_of(sock)}")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def serve_app(app, sock: socket.socket) -> None:  # pragma: no cover - blocks until Ctrl+C
    _server(app, "info").run(sockets=[sock])


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
