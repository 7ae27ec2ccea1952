"""What a process keeps of what it rendered, and answers sent again as they were.

`KeptCache` is a bounded LRU with an expiry per entry. `answered_again` is a route middleware: a
GET whose answer the handler declared true until some moment (`keep_answer`) is answered again,
headers and body exactly as the layers below it sent them, to the next request that reads the
same (`request_key`). It sits before Litestar's compression, CSRF, guards, parameter parsing and
handler, which a kept Users tab otherwise ran on every request for the same bytes (a quarter of
its CPU); the layers outside it still run on every answer: the security headers (`before_send`),
the request id, the metrics and the access log."""

from collections import OrderedDict
from datetime import datetime

import msgspec

from app.core import clock
from app.http.plumbing.metrics import KEPT_LOOKUPS


class KeptCache:
    """key -> (valid until, value); each value's `size()` (bytes) counts towards `max_bytes`,
    the least recently used out first; at most `max_entries`."""

    def __init__(self, name: str, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.entries: OrderedDict = OrderedDict()
        self.bytes = 0
        self.hits = KEPT_LOOKUPS.labels(name, "hit")
        self.misses = KEPT_LOOKUPS.labels(name, "miss")

    def get(self, key, now):
        entry = self.entries.get(key)
        if entry is not None and entry[0] <= now:
            self._drop(key)
            entry = None
        if entry is None:
            self.misses.inc()
            return None
        self.hits.inc()
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key, value, until) -> None:
        if key in self.entries:
            self._drop(key)
        self.entries[key] = (until, value)
        self.bytes += value.size()
        while self.entries and (
            self.bytes > self.max_bytes or len(self.entries) > self.max_entries
        ):
            self._drop(next(iter(self.entries)))

    def _drop(self, key) -> None:
        _, value = self.entries.pop(key)
        self.bytes -= value.size()

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class KeptAnswer(msgspec.Struct, frozen=True):
    """An answer as the layers below `answered_again` sent it: a 200's headers and body."""

    headers: tuple
    body: bytes

    def size(self) -> int:
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)


# Whole answers (a Users tab of 25 users is about 40 KB, 6 KB in brotli) kept per process.
ANSWERS = KeptCache("answers", max_bytes=16 * 1024 * 1024, max_entries=1024)
# An answer larger than this is sent but not kept.
LARGEST_KEPT = 1024 * 1024

_KEEP_UNTIL = "keep_answer_until"


def keep_answer(request, until: datetime) -> None:
    """Said by a handler: this answer stays true, for every request with the same key, until
    `until` (and no longer than the key's inputs stay the same)."""
    request.scope.setdefault("state", {})[_KEEP_UNTIL] = until


def answered_again(request_key):
    """Route middleware. `request_key(scope)` is everything the answer depends on besides what
    the handler vouches for with `keep_answer` (or None: this request goes through, and is not
    kept). Only a 200 that sets no cookie is kept."""

    def middleware_factory(app):
        async def middleware(scope, receive, send):
            key = request_key(scope) if scope["method"] == "GET" else None
            if key is None:
                return await app(scope, receive, send)
            kept = ANSWERS.get(key, clock.now())
            if kept is not None:
                # A new list: `before_send` adds to the one it is given.
                start = {"type": "http.response.start", "status": 200, "headers": [*kept.headers]}
                await send(start)
                await send({"type": "http.response.body", "body": kept.body})
                return
            status, headers, body, complete = 0, (), [], False

            async def capture(message):
                nonlocal status, headers, complete
                if message["type"] == "http.response.start":
                    status, headers = message["status"], tuple(message.get("headers", ()))
                elif message["type"] == "http.response.body":
                    body.append(message.get("body", b""))
                    complete = not message.get("more_body", False)
                await send(message)

            await app(scope, receive, capture)
            until = scope.get("state", {}).get(_KEEP_UNTIL)
            if (
                until is not None
                and complete
                and status == 200
                and not any(name.lower() == b"set-cookie" for name, _ in headers)
                and sum(map(len, body)) <= LARGEST_KEPT
            ):
                ANSWERS.put(key, KeptAnswer(headers, b"".join(body)), until)

        return middleware

    return middleware_factory


# The request headers an answer may depend on: cookies (the session, the CSRF token the page
# carries), htmx's (a fragment or a page) and the encodings taken (compression).
VARYING_HEADERS = frozenset(
    (b"cookie", b"hx-request", b"hx-boosted", b"hx-request-type", b"accept-encoding")
)


def varying_headers(scope) -> tuple:
    return tuple((name, value) for name, value in scope["headers"] if name in VARYING_HEADERS)
