"""Logging for the server: tokens in URLs (invites, password resets, email verifications) and
secret parameters never reach the logs, not in request lines, messages nor exception traces,
whatever their case and however many times they were percent-encoded."""

import contextvars
import json
import logging
import os
import re
from urllib.parse import quote, unquote

REDACTED = "[redacted]"
# A path segment after one of these is a token.
_TOKEN_PATH = re.compile(
    r"((?:/(?:invite|password/reset|verify-email)|(?<!/users)/transfer)/)"
    r"(?!\[redacted\])[^/\s?#&;\"'\\]+",
    re.IGNORECASE,
)
# Query parameters whose value is a secret on any path: the WHMCS API's secret, password,
# password2 and accesskey, a sign-in code, any token or key.
_SECRET_NAME = re.compile(r"secret|passw|token|key|code|otp", re.IGNORECASE)
# Where a URL may be: a run of characters that are not spaces, quotes or backslashes (which a
# JSON line escapes with).
_URLISH = re.compile(r"[^\s\"'<>\\]+")
# %252F is %2F is /: decoded up to this many times; what still decodes after that is withheld.
_DECODINGS = 4
# A URL in a parameter of a URL in a parameter...: looked into this deep, then withheld.
_DEPTH = 3


def redact(text: str) -> str:
    return _URLISH.sub(lambda found: _redact_url(found.group(), 0), text)


def _decoded(text: str) -> str | None:
    """`text` percent-decoded until it no longer changes, or None if it still does."""
    for _ in range(_DECODINGS):
        plain = unquote(text, errors="replace")
        if plain == text:
            return text
        text = plain
    return None


def _redact_url(url: str, depth: int) -> str:
    if not any(mark in url for mark in "/?%="):
        return url
    path, question, query = url.partition("?")
    path = _redact_path(path)
    if question:
        query = "".join(
            part if part in "&;" else _redact_parameter(part, depth)
            for part in re.split(r"([&;])", query)
        )
    return path + question + query


def _redact_path(path: str) -> str:
    shown = _TOKEN_PATH.sub(r"\1" + REDACTED, path)
    if "%" not in shown:
        return shown
    plain = _decoded(shown)
    if plain is None:
        return REDACTED
    if _TOKEN_PATH.search(plain):
        # Shown decoded, with what could break the line (spaces, quotes, controls) encoded.
        return quote(_TOKEN_PATH.sub(r"\1" + REDACTED, plain), safe="/[]:@!$&()*+,;=~")
    return shown


def _redact_parameter(part: str, depth: int) -> str:
    name, equals, value = part.partition("=")
    plain_name, plain_value = _decoded(name), _decoded(value)
    if plain_name is None or _hides_secret(plain_name, depth):
        return REDACTED
    if plain_value is None or (value and _SECRET_NAME.search(plain_name)):
        return name + equals + REDACTED
    if _hides_secret(plain_value, depth):
        return name + equals + REDACTED
    return part


def _hides_secret(plain: str, depth: int) -> bool:
    """Whether a decoded name or value holds a token path or a secret parameter."""
    if depth >= _DEPTH:
        return any(mark in plain for mark in "/?=")
    return _redact_url(plain, depth + 1) != plain


# Set on the one record that shows links on purpose: the development outbox.
SHOWS_LINKS = "roster_shows_links"


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if getattr(record, SHOWS_LINKS, False) else redact(text)


# The id of the request being served (app.http.plumbing.health sets it), on every log line.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonLinesFormatter(RedactingFormatter):
    """One JSON object per line (ROSTER_LOG_FORMAT=json), redacted like the text lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        text = json.dumps(entry, ensure_ascii=False)
        return text if getattr(record, SHOWS_LINKS, False) else redact(text)


LOG_FORMATS = {
    "text": lambda: RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
    ),
    "json": JsonLinesFormatter,
}


def configure_logging() -> None:
    """Every log line to stderr, as text or JSON lines (ROSTER_LOG_FORMAT)."""
    chosen = os.environ.get("ROSTER_LOG_FORMAT") or "text"
    if chosen not in LOG_FORMATS:
        raise ValueError(f"ROSTER_LOG_FORMAT must be text or json, not {chosen!r}")
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(LOG_FORMATS[chosen]())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
