"""The WHMCS endpoint's secrets stay out of the logs."""

import logging
import re

PATH = "/includes/api.php"

# The access log line of this path shows its query string without the values: a client may put
# the secret (or a password) there, and request lines are logged by uvicorn.
# Any case: a mistyped /INCLUDES/api.php (a 404) carries the same secrets.
_QUERY_OF_THIS_PATH = re.compile("(" + re.escape(PATH) + r")\?[^\s\"]*", re.IGNORECASE)


def redact_query(text: str) -> str:
    return _QUERY_OF_THIS_PATH.sub(r"\1?[redacted]", text)


class RedactApiQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and PATH in a.lower() else a
                for a in record.args
            )
        return True


def guard_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactApiQuery) for f in logger.filters):
        logger.addFilter(RedactApiQuery())
