"""How responses travel: compressed (brotli, else gzip) and, for static files, cached.

A static file's URL from `static_url` carries a version, the first 12 hex digits of the SHA-256
of its content: an answer to that URL never changes, so browsers keep it for a year without
asking again. Any other static URL (no version, or an old one) is `no-cache`: the browser asks
each time, with the file's ETag or date, and gets 304 when it has the current file. Our own
script, app.js, is the concatenation of its parts (APP_SCRIPT), sent minified."""

import ctypes
import hashlib
import os
import platform
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs

import rjsmin
from litestar import Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.middleware.compression import CompressionMiddleware

from app.core.config import FRONTEND_DIR
from app.core.policy import Permission

STATIC_DIR = (FRONTEND_DIR / "static").resolve()
STATIC_PATH = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@lru_cache(maxsize=512)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """Computed once per file (and per change of it) in a process."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            sha.update(chunk)
    return sha.hexdigest()[:12]


def static_file(relative: str) -> tuple[Path, str] | None:
    """The file under frontend/static and its version, or None (missing, or outside)."""
    path = (STATIC_DIR / relative.lstrip("/")).resolve()
    if not path.is_relative_to(STATIC_DIR):
        return None
    try:
        stat = path.stat()
    except (OSError, ValueError):
        return None
    if not path.is_file():
        return None
    return path, _digest(str(path), stat.st_mtime_ns, stat.st_size)


# Our script, written as small files under frontend/static/js/ (the core, then one behaviour
# each) and sent as one answer, /static/js/app.js: one request, no build step. Native ES modules
# would cost a request per file (each import found only once its importer arrived) and an import
# map to version them, an inline script that the CSP (script-src 'self') refuses. The order is
# the order of execution, which matters where two files listen to the same htmx event (each
# file's header says so): failures before dialogs (a whole page refused before a dialog
# reacts to the swap), then focus, then form-errors (after a swap the dialog is open again,
# then focus is placed, then a refused form's first field in error takes it).
# A behaviour of one rarely seen part of one page is not in app.js, whose size every page pays
# (the Users tab's budget: tests/integration/test_page_weight_web.py): that part's template
# loads it itself (js/behaviours/recovery-codes.js, in security/_two_factor.html).
APP_SCRIPT_URL = "js/app.js"
APP_SCRIPT = (
    "js/roster.js",  # the core: R.on (behaviours by attribute), focus helpers, the CSRF header
    "js/behaviours/messages.js",  # R.say: the live region, used by the files below
    "js/behaviours/failures.js",
    "js/behaviours/kept-form.js",
    "js/behaviours/busy.js",
    "js/behaviours/dialogs.js",
    "js/behaviours/focus.js",
    "js/behaviours/form-errors.js",
    "js/behaviours/confirm.js",
    "js/behaviours/combobox.js",
    "js/behaviours/password.js",
    "js/behaviours/menu.js",
    "js/behaviours/live.js",
    "js/behaviours/stale-edit.js",  # after live.js: it hears the live news an open dialog needs
)


class Script(NamedTuple):
    """app.js as written: its parts joined in their order (one line break between two), its
    version (the first 12 hex digits of the SHA-256 of that text: any part that changes changes
    it) and the time its newest part changed."""

    text: str
    version: str
    modified: float


def app_script_source() -> Script:
    stamps = []
    for part in APP_SCRIPT:
        stat = (STATIC_DIR / part).stat()
        stamps.append((part, stat.st_mtime_ns, stat.st_size))
    return _joined(tuple(stamps))


@lru_cache(maxsize=4)
def _joined(stamps: tuple) -> Script:
    """Read once per change of a part in a process."""
    text = "\n".join((STATIC_DIR / part).read_text(encoding="utf-8") for part, _, _ in stamps)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Script(text, version, max(mtime for _, mtime, _ in stamps) / 1e9)


@lru_cache(maxsize=4)
def minified_script(source: str, version: str) -> bytes:
    """Our script is written for people (comments, whitespace) and sent minified (rjsmin), once
    per version in a process."""
    return rjsmin.jsmin(source).encode()


class Validators(NamedTuple):
    """What a static file's answer says of its freshness, by version asked and file."""

    etag: str
    cache_control: str
    modified: float

    @classmethod
    def of(cls, path: Path, version: str, asked: str | None) -> "Validators":
        control = IMMUTABLE if asked == version else REVALIDATE
        return cls(f'W/"{version}"', control, path.stat().st_mtime)

    def headers(self) -> dict[str, str]:
        return {
            "etag": self.etag,
            "cache-control": self.cache_control,
            "last-modified": formatdate(self.modified, usegmt=True),
        }

    def current(self, headers: Headers) -> bool:
        """RFC 9110 13.2.2: If-None-Match (weak comparison) decides; else If-Modified-Since."""
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or self.etag.removeprefix("W/") in tags
        if_modified_since = headers.get("if-modified-since")
        if if_modified_since:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return int(self.modified) <= since.timestamp()
        return False


@get(
    STATIC_PATH + APP_SCRIPT_URL,
    include_in_schema=False,
    sync_to_thread=False,
    permission=Permission.PUBLIC,
)
def app_script(request: Request) -> Response:
    """app.js: its parts joined and minified, with the caching of every static file (a route of
    its own, so the compression applies to it like to any page)."""
    script = app_script_source()
    control = IMMUTABLE if request.query_params.get("v") == script.version else REVALIDATE
    fresh = Validators(f'W/"{script.version}"', control, script.modified)
    if fresh.current(request.headers):
        return Response(b"", status_code=304, headers=fresh.headers())
    body = minified_script(script.text, script.version)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=fresh.headers())


def static_url(relative: str) -> str:
    """`static_url("css/roster.css")` -> `/static/css/roster.css?v=<12 hex of its SHA-256>`."""
    url = STATIC_PATH + relative.lstrip("/")
    if relative == APP_SCRIPT_URL:
        return f"{url}?v={app_script_source().version}"
    found = static_file(relative)
    return f"{url}?v={found[1]}" if found else url


@lru_cache(maxsize=64)
def fixed_static_url(relative: str) -> str:
    """static_url for production, where the files do not change under a running process: the
    file is read and hashed once, not resolved and stat'ed on every page."""
    return static_url(relative)


def static_caching(app):
    """Middleware of the static files router (it runs outside the compression): Cache-Control
    by version, an ETag from the content (weak: the same for every Content-Encoding), and 304
    when the browser's copy is current."""

    async def middleware(scope, receive, send):
        found = None
        if scope["type"] == "http" and scope["path"].startswith(STATIC_PATH):
            found = static_file(scope["path"][len(STATIC_PATH) :])
        if found is None:  # the router answers (404)
            return await app(scope, receive, send)
        path, version = found
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [None])[0]
        fresh = Validators.of(path, version, asked)
        if fresh.current(Headers.from_scope(scope)):
            # Vary as on the 200 it stands for.
            headers = {**fresh.headers(), "vary": "Accept-Encoding"}
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return

        async def with_cache_headers(message):
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = MutableScopeHeaders.from_message(message)
                headers["etag"] = fresh.etag
                headers["cache-control"] = fresh.cache_control
            await send(message)

        await app(scope, receive, with_cache_headers)

    return middleware


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
INITIAL_THRESHOLD = 128 * 1024  # glibc's initial value of both


def keep_mmap_threshold() -> bool:
    """Fixes glibc's mmap threshold at its initial 128 KB, so that large buffers are mmapped
    and handed back to the system when freed, and the trim threshold (free memory at the top of
    the heap given back) at its initial 128 KB too, which each raise doubled; True when set.

    A brotli encoder (quality 5) mallocs its buffers per answer, each above 128 KB: the ring
    buffer (590 KB at lgwin 18), 1 MB, 786 KB, 262 KB, 152 KB. By default glibc raises the
    threshold to the size of any mmapped chunk freed, so after the first answer they all came
    from the heap, between Python's objects, and stayed resident: RSS 86 -> 210 MB in 10,000
    mixed requests (SQLite; 183 MB on PostgreSQL), 109 MB with gzip only. Setting the threshold
    turns that adjustment off (MALLOC_MMAP_THRESHOLD_=131072 in the environment gave the same).
    An operator's MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is left as it is."""
    if platform.libc_ver()[0] != "glibc" or any(
        f"MALLOC_{name}_THRESHOLD_" in os.environ for name in ("MMAP", "TRIM")
    ):
        return False
    libc = ctypes.CDLL(None)
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, INITIAL_THRESHOLD)
        and libc.mallopt(M_TRIM_THRESHOLD, INITIAL_THRESHOLD)
    )


# On import (app.asgi imports this before `roster serve` migrates): set after the migrations'
# first raise it left 16 MB more resident (129 instead of 113 MB after 4,000 requests).
keep_mmap_threshold()


# The codings we send, preferred first (brotli wins when both are equally welcome).
CODINGS = ("br", "gzip")
ALIASES = {"x-gzip": "gzip"}


def weight(text: str) -> float | None:
    """A q value (0 to 1), or None when it is no number in that range."""
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0 <= q <= 1 else None


def chosen_coding(accept_encoding: str) -> str | None:
    """The coding an answer is sent in (RFC 9110 12.5.3): of the ones we send, the one with the
    highest q, None (identity) when neither is acceptable. q=0 refuses a coding; `*` weighs
    every coding not named; a coding named twice keeps its lowest q. An entry we cannot read
    (a q that is no number from 0 to 1) is left out, as if not sent."""
    named: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        name, *params = entry.split(";")
        name = name.strip().lower()
        name = ALIASES.get(name, name)
        q: float | None = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = weight(value.strip())
        if name and q is not None:
            named[name] = min(q, named.get(name, q))
    weights = {coding: named.get(coding, named.get("*", 0.0)) for coding in CODINGS}
    best = max(CODINGS, key=lambda coding: weights[coding])  # the first on a tie
    return best if weights[best] > 0 else None


def accept_encoding_of(scope) -> str:
    return ",".join(
        value.decode("latin-1") for name, value in scope["headers"] if name == b"accept-encoding"
    )


class VaryingCompression(CompressionMiddleware):
    """Litestar's compression, in the coding `chosen_coding` picks (Litestar's own looks for
    "br" or "gzip" anywhere in the header, q=0 or not), and `Vary: Accept-Encoding` on every
    answer it sees, compressed or not, so that no cache hands an identity body to a browser that
    asked for brotli (or the other way round)."""

    async def __call__(self, scope, receive, send):
        async def vary(message):
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if "accept-encoding" not in headers.get("vary", "").lower():
                    headers.extend_header_value("vary", "Accept-Encoding")
            await send(message)

        coding = chosen_coding(accept_encoding_of(scope))
        if coding is None:
            return await self.app(scope, receive, vary)
        compressing = self.create_compression_send_wrapper(vary, coding, scope)
        await self.app(scope, receive, compressing)


# Brotli when the browser takes it (Chromium and Firefox do, over HTTPS and on localhost), else
# gzip; answers under 1 KB stay as they are (the saving would fit in the headers). A 256 KB window
# (lgwin 18, Litestar's default is 22: 4 MB) covers every page and static file we send whole: the
# same bytes as lgwin 22 on each (Users tab 76 KB -> 6,134 B), and a 590 KB ring buffer instead of
# 8.4 MB per answer.
COMPRESSION = CompressionConfig(
    backend="brotli",
    brotli_gzip_fallback=True,
    brotli_quality=5,
    brotli_lgwin=18,
    gzip_compress_level=6,
    minimum_size=1024,
    middleware_class=VaryingCompression,
    exclude="^/live/",  # an event must leave at once, not wait in a compressor's buffer
)
