"""Reading WHMCS API parameters as the three public clients send them.

Booleans come as 1/0 (PHP), True/False (Python), true/false (Node); lists as a comma string,
`key[]=a&key[]=b`, `key[0]=a&key[1]=b` (whmcspy) or a repeated `key=a&key=b` (Node)."""

import re
from urllib.parse import parse_qsl

from app.core.validation import parse_id

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250
MAX_OFFSET = 2**31 - 1
MAX_FIELDS = 1000  # far more than any action takes; a bigger body is refused, not parsed
_DIGITS = re.compile(r"[0-9]+")
_INDEXED = re.compile(r"(?P<name>[^\[\]]+)\[(?P<index>[^\[\]]*)\]")


class ApiError(Exception):
    """An answer with result=error and this message (HTTP 200 unless `status` says otherwise)."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_pairs(raw: bytes | str) -> list[tuple[str, str]]:
    """A form-encoded body or query string as (name, value) pairs, blanks kept, in order."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise ApiError(f"Too many parameters (at most {MAX_FIELDS})") from exc


class Params:
    """The request's parameters. `body` wins over `query` name by name (the body is what the
    WHMCS docs post; whmcs-api-client puts only `action` in the query string)."""

    def __init__(
        self, body: list[tuple[str, str]], query: list[tuple[str, str]] | None = None
    ) -> None:
        in_body = {name for name, _ in body}
        self.pairs = [*body, *((n, v) for n, v in query or () if n not in in_body)]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def has(self, name: str) -> bool:
        """Sent with a value: an empty string counts as absent (node-whmcs sends every field)."""
        return self.text(name) != ""

    def text(self, name: str) -> str:
        """The value (the last one when repeated), whitespace around it removed; "" if absent."""
        found = self.values(name)
        return found[-1].strip() if found else ""

    def bool(self, name: str, default: bool = False) -> bool:
        found = self.values(name)
        if not found:
            return default
        value = found[-1].strip().lower()
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise ApiError(f"Invalid value for {name[:40]}: use 1/0, true/false, yes/no or on/off")

    def list(self, name: str) -> list[str]:
        """Every item sent under `name`, `name[]` or `name[n]` (indexed ones in index order),
        each comma-separated value split; blanks dropped."""
        plain, indexed = [], []
        for position, (key, value) in enumerate(self.pairs):
            if key == name:
                plain.append(value)
                continue
            match = _INDEXED.fullmatch(key)
            if match and match["name"] == name:
                index = match["index"]
                order = _number_order(index if _DIGITS.fullmatch(index) else str(position))
                indexed.append((order, position, value))
        raw = plain + [value for *_, value in sorted(indexed)]
        return [item.strip() for value in raw for item in value.split(",") if item.strip()]

    def id(self, name: str, error: str) -> int:
        """A row id: ASCII digits within the id column's range, else ApiError(error)."""
        number = parse_id(self.text(name))
        if number is None:
            raise ApiError(error)
        return number

    def page(self) -> tuple[int, int]:
        """(limitstart, limitnum): defaults 0 and 25; negative or unreadable values fall back
        to the defaults, huge ones are clamped (page size at most MAX_PAGE_SIZE)."""
        start = min(_count(self.text("limitstart"), 0), MAX_OFFSET)
        size = min(_count(self.text("limitnum"), DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        return start, size or DEFAULT_PAGE_SIZE


def _number_order(digits: str) -> tuple[int, str]:
    """A sort key that orders ASCII digit strings as the numbers they write, however long
    (int() refuses more than 4,300 digits)."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def _count(value: str, default: int) -> int:
    """A non-negative count; anything else (a sign, letters, nothing) gives `default`."""
    if not _DIGITS.fullmatch(value):
        return default
    return MAX_OFFSET if len(value) > 12 else int(value)  # int() of 5,000 digits would raise
