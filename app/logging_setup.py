"""Logging for the server: tokens in URLs (invites, password resets) never reach the logs."""

import logging
import re

_TOKEN_PATH = re.compile(r"(/(?:invite|password/reset)/)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact(str(record.msg))
        return True


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Request lines carry URLs; in development the outbox logs its links on purpose (SPEC §7).
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
