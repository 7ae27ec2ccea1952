"""Logging for the server: tokens in URLs (invites, password resets) never reach the logs, not in
request lines, messages nor exception traces."""

import contextvars
import json
import logging
import os
import re

_TOKEN_PATH = re.compile(r"(/(?:invite|password/reset|verify-email)/)[^/\s?#\"']+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


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
