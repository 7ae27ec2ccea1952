"""Checks of user-supplied values, raising DomainError with a message people can act on."""

import contextlib
import re
import unicodedata
from datetime import UTC, datetime

import email_validator
import pycountry
from email_validator import EmailNotValidError, validate_email

from app.core import i18n
from app.core.db import valid_id
from app.core.errors import DomainError
from app.core.i18n import N_, _, ngettext
from app.core.permissions import ALL_KEYS, LABELS

NAME_MAX = 100
COMPANY_MAX = 150
EMAIL_MAX = 254
SEARCH_MAX_LENGTH = 100
SEARCH_MAX_WORDS = 6
PHONE_MAX = 30
# The client account's contact fields: their labels, in the order forms show them (marked for
# the catalog: translated where shown, `_(CONTACT_LABELS[field])`), and their lengths (the
# columns' in app/schema/clients.py).
CONTACT_LABELS = {
    "address1": N_("Address 1"),
    "address2": N_("Address 2"),
    "city": N_("City"),
    "state": N_("State/Region"),
    "postcode": N_("Postcode"),
    "country": N_("Country"),
    "phone_number": N_("Phone Number"),
    "tax_id": N_("Tax ID"),
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
        raise DomainError(_("Enter an email address."), field)
    if len(value) > EMAIL_MAX:
        raise DomainError(_("That email address is too long."), field)
    if has_control_characters(value):
        raise DomainError(_("An email address cannot contain control characters."), field)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError(
            _("Enter a valid email address (%(reason)s).") % {"reason": exc}, field
        ) from exc
    if len(result.normalized) > EMAIL_MAX:
        raise DomainError(_("That email address is too long."), field)
    return result.normalized, result.normalized.casefold()


# clean_name's refusals for each label it is given, each a whole sentence for the translators
# (a label set into a sentence cannot agree with its other words in every language): (control
# characters, empty (None: the field is never required), too long (a plural: the limit)).
_NAME_MESSAGES = {
    "First name": (
        N_("First name cannot contain control characters."),
        N_("Enter a first name."),
        lambda n: ngettext(
            "First name is limited to %(num)d character.",
            "First name is limited to %(num)d characters.",
            n,
        ),
    ),
    "Last name": (
        N_("Last name cannot contain control characters."),
        N_("Enter a last name."),
        lambda n: ngettext(
            "Last name is limited to %(num)d character.",
            "Last name is limited to %(num)d characters.",
            n,
        ),
    ),
    "Company name": (
        N_("Company name cannot contain control characters."),
        N_("Enter a company name."),
        lambda n: ngettext(
            "Company name is limited to %(num)d character.",
            "Company name is limited to %(num)d characters.",
            n,
        ),
    ),
    "Name": (
        N_("Name cannot contain control characters."),
        N_("Enter a name."),
        lambda n: ngettext(
            "Name is limited to %(num)d character.", "Name is limited to %(num)d characters.", n
        ),
    ),
    "Description": (
        N_("Description cannot contain control characters."),
        None,
        lambda n: ngettext(
            "Description is limited to %(num)d character.",
            "Description is limited to %(num)d characters.",
            n,
        ),
    ),
    "Address 1": (
        N_("Address 1 cannot contain control characters."),
        None,
        lambda n: ngettext(
            "Address 1 is limited to %(num)d character.",
            "Address 1 is limited to %(num)d characters.",
            n,
        ),
    ),
    "Address 2": (
        N_("Address 2 cannot contain control characters."),
        None,
        lambda n: ngettext(
            "Address 2 is limited to %(num)d character.",
            "Address 2 is limited to %(num)d characters.",
            n,
        ),
    ),
    "City": (
        N_("City cannot contain control characters."),
        None,
        lambda n: ngettext(
            "City is limited to %(num)d character.", "City is limited to %(num)d characters.", n
        ),
    ),
    "State/Region": (
        N_("State/Region cannot contain control characters."),
        None,
        lambda n: ngettext(
            "State/Region is limited to %(num)d character.",
            "State/Region is limited to %(num)d characters.",
            n,
        ),
    ),
    "Postcode": (
        N_("Postcode cannot contain control characters."),
        None,
        lambda n: ngettext(
            "Postcode is limited to %(num)d character.",
            "Postcode is limited to %(num)d characters.",
            n,
        ),
    ),
    "Tax ID": (
        N_("Tax ID cannot contain control characters."),
        None,
        lambda n: ngettext(
            "Tax ID is limited to %(num)d character.",
            "Tax ID is limited to %(num)d characters.",
            n,
        ),
    ),
}


def _name_refusal(label: str, problem: int, limit: int = 0) -> str:
    """clean_name's message for `label` (as given, in English): `problem` 0 control characters,
    1 empty, 2 longer than `limit`; a label without its own sentences is set into a general one."""
    own = _NAME_MESSAGES.get(label)
    if problem == 2:
        if own is not None:
            return own[2](limit) % {"num": limit}
        return ngettext(
            "%(label)s is limited to %(num)d character.",
            "%(label)s is limited to %(num)d characters.",
            limit,
        ) % {"label": _(label), "num": limit}
    said = own[problem] if own is not None else None
    if isinstance(said, str):
        return _(said)
    if problem == 0:
        return _("%(label)s cannot contain control characters.") % {"label": _(label)}
    return _("Enter a %(label)s.") % {"label": _(label).lower()}


def clean_name(
    value: str, label: str, field: str, required: bool = True, max_length: int = NAME_MAX
) -> str:
    """`label`: the field's name in English, as the sentences of _NAME_MESSAGES start."""
    if has_control_characters(value or ""):
        raise DomainError(_name_refusal(label, 0), field)
    value = " ".join((value or "").split())
    if required and not value:
        raise DomainError(_name_refusal(label, 1), field)
    if len(value) > max_length:
        raise DomainError(_name_refusal(label, 2, max_length), field)
    return value


def clean_search(value: str) -> str:
    """Search input: words separated by spaces, capped so that one query stays cheap."""
    value = " ".join((value or "").split())
    if has_control_characters(value):
        raise DomainError(_("Search text cannot contain control characters."), "q")
    if len(value) > SEARCH_MAX_LENGTH or len(value.split()) > SEARCH_MAX_WORDS:
        raise DomainError(
            ngettext(
                "Search with at most %(num)d word and %(chars)d characters.",
                "Search with at most %(num)d words and %(chars)d characters.",
                SEARCH_MAX_WORDS,
            )
            % {"num": SEARCH_MAX_WORDS, "chars": SEARCH_MAX_LENGTH},
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
_COUNTRY_CODES = frozenset(code for code, _name in COUNTRIES)
COUNTRY_NAMES = dict(COUNTRIES)

# Digits, spaces and + - ( ) . only, as WHMCS accepts them.
_PHONE = re.compile(r"[0-9 +\-().]*")


# Marked for the catalog, translated where they are raised.
BAD_COUNTRY = N_("Choose a country from the list.")
BAD_PHONE = N_("Enter a phone number: digits, spaces and + - ( ) . only, up to 30 characters.")


def clean_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case ("" stays "": no country given)."""
    code = (value or "").strip().upper()
    if code and code not in _COUNTRY_CODES:
        raise DomainError(_(BAD_COUNTRY), "country")
    return code


def clean_phone(value: str) -> str:
    """A phone number as people type it, spaces collapsed; full-width digits read as digits."""
    invalid = DomainError(_(BAD_PHONE), "phone_number")
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
        raise DomainError(_("Unknown permission: %(keys)s.") % {"keys": shown}, "permissions")
    if not wanted:
        raise DomainError(_("Choose at least one permission."), "permissions")
    return tuple(k for k in ALL_KEYS if k in wanted)


def permission_labels(keys) -> list[str]:
    """The keys' labels, translated."""
    return [_(LABELS[k]) for k in keys if k in LABELS]


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
                _(
                    "Access until must be a date (YYYY-MM-DD) or a date and time such as "
                    "2026-12-14T18:00:00Z."
                ),
                field,
            ) from None
    else:
        raise DomainError(_("Access until must be a date or a date and time."), field)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when <= now:
        raise DomainError(_("Access until must be in the future."), field)
    return when


def until_label(when: datetime | None) -> str:
    """How lists show an end: "until 14 Dec 2026" (UTC)."""
    if when is None:
        return ""
    return _("until %(date)s") % {"date": i18n.format_date(when, "UTC")}
