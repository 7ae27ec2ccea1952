"""Checks of user-supplied values, raising DomainError with a message people can act on."""

import contextlib
import re
import unicodedata
from datetime import UTC, datetime

import email_validator
import pycountry
from email_validator import EmailNotValidError, validate_email

from app.core.db import valid_id
from app.core.errors import DomainError
from app.core.permissions import ALL_KEYS, LABELS

NAME_MAX = 100
COMPANY_MAX = 150
EMAIL_MAX = 254
SEARCH_MAX_LENGTH = 100
SEARCH_MAX_WORDS = 6
PHONE_MAX = 30
# The client account's contact fields: their labels, in the order forms show them, and their
# lengths (the columns' in app/schema/clients.py).
CONTACT_LABELS = {
    "address1": "Address 1",
    "address2": "Address 2",
    "city": "City",
    "state": "State/Region",
    "postcode": "Postcode",
    "country": "Country",
    "phone_number": "Phone Number",
    "tax_id": "Tax ID",
}
CONTACT_LIMITS = {
    "address1": 100,
    "address2": 100,
    "city": 100,
    "state": 100,
    "postcode": 20,
    "country": 2,
    "phone_number": PHONE_MAX,
    "tax_id": 50,
}
# Page sizes a caller may ask a list for (an API's limitnum): larger asks are clamped.
LIST_LIMIT_MAX = 1000

# Intranets and staging set-ups use these, and every peer accepts them: only names that can
# never be an address (.invalid, .onion, .arpa, localhost) stay refused.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    d for d in email_validator.SPECIAL_USE_DOMAIN_NAMES if d not in ("local", "test")
]

# Control characters (NUL, line breaks, tabs, …) and other invisible format characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))


def email_key(value: str) -> str:
    """The one form in which emails are compared and kept unique, on every path (register,
    login, invite, reset): NFKC, the domain in Unicode (IDNA) form, case-folded. A value that is
    not an address at all still gets a key (it matches nobody)."""
    value = unicodedata.normalize("NFKC", (value or "").strip())
    with contextlib.suppress(EmailNotValidError):
        value = validate_email(value, check_deliverability=False).normalized
    return value.casefold()[:EMAIL_MAX]


def clean_email(value: str, field: str = "email") -> tuple[str, str]:
    """Returns (email as it will be kept, the key used for comparisons: see email_key)."""
    value = unicodedata.normalize("NFKC", (value or "").strip())
    if not value:
        raise DomainError("Enter an email address.", field)
    if len(value) > EMAIL_MAX:
        raise DomainError("That email address is too long.", field)
    if has_control_characters(value):
        raise DomainError("An email address cannot contain control characters.", field)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError(f"Enter a valid email address ({exc}).", field) from exc
    if len(result.normalized) > EMAIL_MAX:
        raise DomainError("That email address is too long.", field)
    return result.normalized, result.normalized.casefold()


def clean_name(
    value: str, label: str, field: str, required: bool = True, max_length: int = NAME_MAX
) -> str:
    if has_control_characters(value or ""):
        raise DomainError(f"{label} cannot contain control characters.", field)
    value = " ".join((value or "").split())
    if required and not value:
        raise DomainError(f"Enter a {label.lower()}.", field)
    if len(value) > max_length:
        raise DomainError(f"{label} is limited to {max_length} characters.", field)
    return value


def clean_search(value: str) -> str:
    """Search input: words separated by spaces, capped so that one query stays cheap."""
    value = " ".join((value or "").split())
    if has_control_characters(value):
        raise DomainError("Search text cannot contain control characters.", "q")
    if len(value) > SEARCH_MAX_LENGTH or len(value.split()) > SEARCH_MAX_WORDS:
        raise DomainError(
            f"Search with at most {SEARCH_MAX_WORDS} words and {SEARCH_MAX_LENGTH} characters.",
            "q",
        )
    return value


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


# (ISO 3166-1 alpha-2 code, name) of every country, by name: the Country select's options.
COUNTRIES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        ((c.alpha_2, getattr(c, "common_name", c.name)) for c in pycountry.countries),
        key=lambda pair: _sort_key(pair[1]).casefold(),
    )
)
_COUNTRY_CODES = frozenset(code for code, _ in COUNTRIES)
COUNTRY_NAMES = dict(COUNTRIES)

# Digits, spaces and + - ( ) . only, as WHMCS accepts them.
_PHONE = re.compile(r"[0-9 +\-().]*")


BAD_COUNTRY = "Choose a country from the list."
BAD_PHONE = "Enter a phone number: digits, spaces and + - ( ) . only, up to 30 characters."


def clean_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case ("" stays "": no country given)."""
    code = (value or "").strip().upper()
    if code and code not in _COUNTRY_CODES:
        raise DomainError(BAD_COUNTRY, "country")
    return code


def clean_phone(value: str) -> str:
    """A phone number as people type it, spaces collapsed; full-width digits read as digits."""
    invalid = DomainError(BAD_PHONE, "phone_number")
    value = unicodedata.normalize("NFKC", value or "")
    if has_control_characters(value):
        raise invalid
    value = " ".join(value.split())
    if len(value) > PHONE_MAX or not _PHONE.fullmatch(value):
        raise invalid
    return value


def clean_page(offset: int, limit: int) -> tuple[int, int]:
    """A list's slice as a caller asks for it, clamped: offset 0 or more, limit 1 to
    LIST_LIMIT_MAX (an API client asking for "everything" gets the largest page)."""
    return min(max(offset, 0), 2**62), min(max(limit, 1), LIST_LIMIT_MAX)


def escape_like(value: str) -> str:
    """`value` for a LIKE pattern with ESCAPE '\\': its %, _ and \\ match themselves."""
    return re.sub(r"([\\%_])", r"\\\1", value)


_ASCII_ID = re.compile(r"[0-9]{1,10}")


def parse_id(value: str | None) -> int | None:
    """An id typed or posted as text: ASCII decimal within the column's range, else None."""
    value = (value or "").strip()
    if not _ASCII_ID.fullmatch(value):
        return None
    number = int(value)
    return number if valid_id(number) else None


def clean_permissions(keys) -> tuple[str, ...]:
    """Known keys in canonical order; unknown keys and an empty set are refused."""
    wanted = {k.strip() for k in keys if k and k.strip()}
    unknown = sorted(wanted - set(ALL_KEYS))
    if unknown:
        shown = ", ".join(k[:40] for k in unknown[:5])
        raise DomainError(f"Unknown permission: {shown}.", "permissions")
    if not wanted:
        raise DomainError("Choose at least one permission.", "permissions")
    return tuple(k for k in ALL_KEYS if k in wanted)


def permission_labels(keys) -> list[str]:
    return [LABELS[k] for k in keys if k in LABELS]


ACCESS_UNTIL_FIELD = "access_until"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def clean_access_until(value, now: datetime, field: str = ACCESS_UNTIL_FIELD) -> datetime | None:
    """When access ends: None or "" for never; a date (YYYY-MM-DD, what the web's date field
    sends) is the end of that day in UTC; an instant (ISO 8601; without an offset it is UTC).
    Refused when unparsable or not in the future."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if _DAY.fullmatch(text):
                day = datetime.strptime(text, "%Y-%m-%d")
                when = day.replace(hour=23, minute=59, second=59, tzinfo=UTC)
            else:
                when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise DomainError(
                "Access until must be a date (YYYY-MM-DD) or a date and time such as "
                "2026-12-14T18:00:00Z.",
                field,
            ) from None
    else:
        raise DomainError("Access until must be a date or a date and time.", field)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when <= now:
        raise DomainError("Access until must be in the future.", field)
    return when


def until_label(when: datetime | None) -> str:
    """How lists show an end: "until 14 Dec 2026" (UTC)."""
    if when is None:
        return ""
    when = when.astimezone(UTC)
    return f"until {when.day} {when:%b %Y}"
