"""Checks of user-supplied values, raising DomainError with a message people can act on."""

from email_validator import EmailNotValidError, validate_email

from app.access.permissions import ALL_KEYS, LABELS
from app.errors import DomainError

NAME_MAX = 100
COMPANY_MAX = 150


def clean_email(value: str, field: str = "email") -> tuple[str, str]:
    """Returns (email as written, normalized, lowercased key used for comparisons)."""
    value = (value or "").strip()
    if not value:
        raise DomainError("Enter an email address.", field)
    if len(value) > 254:
        raise DomainError("That email address is too long.", field)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError(f"Enter a valid email address ({exc}).", field) from exc
    return result.normalized, result.normalized.lower()


def clean_name(
    value: str, label: str, field: str, required: bool = True, max_length: int = NAME_MAX
) -> str:
    value = " ".join((value or "").split())
    if required and not value:
        raise DomainError(f"Enter a {label.lower()}.", field)
    if len(value) > max_length:
        raise DomainError(f"{label} is limited to {max_length} characters.", field)
    return value


def clean_permissions(keys) -> tuple[str, ...]:
    """Known keys in canonical order; unknown keys and an empty set are refused."""
    wanted = {k.strip() for k in keys if k and k.strip()}
    unknown = sorted(wanted - set(ALL_KEYS))
    if unknown:
        raise DomainError(f"Unknown permission: {', '.join(unknown)}.", "permissions")
    if not wanted:
        raise DomainError("Choose at least one permission.", "permissions")
    return tuple(k for k in ALL_KEYS if k in wanted)


def permission_labels(keys) -> list[str]:
    return [LABELS[k] for k in keys if k in LABELS]
