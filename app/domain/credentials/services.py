"""API credentials: staff create them, the WHMCS-compatible endpoint and
the native API authenticate with them. A credential acts with its staff member's role."""

import hashlib
import hmac
import ipaddress
import re
import secrets
import string
from datetime import timedelta

import msgspec

from app.core import clock, db
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_, _, ngettext
from app.core.validation import clean_name, email_key
from app.domain.activity.services import Actor
from app.domain.events.catalog import CredentialCreated, CredentialRevoked
from app.domain.events.stream import emit
from app.domain.throttle import Limit
from app.schema.credentials import ApiCredential
from app.schema.staff import Admin

IDENTIFIER_LENGTH = 32
SECRET_LENGTH = 32
DESCRIPTION_MAX = 200
ALLOWED_IPS_MAX = 50
_ALPHANUMERIC = string.ascii_letters + string.digits

# WHMCS's own texts (../shared/WHMCS-API.md): the callers answer 403 with them.
AUTH_FAILED = "Authentication Failed"
UNKNOWN_IDENTIFIER = "Invalid or missing credentials"

# Counted like logins (app.domain.auth.services): every attempt, a success clearing the identifier's
# earlier ones. Wider than the login limits: a script makes many calls, and a 190-bit secret is
# not guessed in any number of tries; the limit is there to stop the noise. The key is the
# identifier *from one address* (_attempts_of): identifiers are no secret (Support see them, the
# activity log names them), and a count per identifier alone would let anyone who knows one lock
# the real integration out of both endpoints. `per_ip` still holds an address back across
# every identifier it tries.
API_LIMIT = Limit(
    "api",
    timedelta(minutes=15),
    per_key=20,
    per_ip=60,
    message=N_("Too many failed API authentications. Wait 15 minutes."),
)


class ApiCaller(msgspec.Struct, frozen=True):
    """Who is calling the API: a credential and the staff member it acts for."""

    credential_id: int
    identifier: str
    description: str
    admin_id: int
    admin_name: str
    role: str  # a key of app.core.policy.ROLES
    ip: str

    @property
    def actor(self) -> Actor:
        return Actor(
            "admin", self.admin_id, f"{self.admin_name} (API credential {self.identifier})", self.ip
        )


class ApiAuthError(Exception):
    """The request is not authenticated: `message` is WHMCS's exact text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NewCredential(msgspec.Struct, frozen=True):
    id: int
    identifier: str
    secret: str  # shown once, never stored


def _random_alphanumerics(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _position in range(length))


def secret_hash(secret: str) -> str:
    # The secret is 32 random alphanumerics (~190 bits), not a password a person chose: nothing
    # can be guessed, so a fast hash is right (a slow one would only slow every API call).
    return hashlib.sha256(secret.encode()).hexdigest()


_IP_SEPARATORS = re.compile(r"[\s,]+")


def clean_allowed_ips(entries: list[str] | tuple | str) -> list[str]:
    """The allow-list as stored: single addresses and CIDR networks in their normal form, each
    once. A text is split on commas and line breaks. DomainError names a bad entry."""
    if isinstance(entries, str):
        entries = [entries]
    cleaned: list[str] = []
    for entry in (e for text in entries for e in _IP_SEPARATORS.split(text or "") if e):
        try:
            if "/" in entry:
                normal = str(ipaddress.ip_network(entry, strict=False))
            else:
                normal = str(ipaddress.ip_address(entry))
        except ValueError:
            raise DomainError(
                _("“%(entry)s” is not an IP address or a network (such as 192.0.2.0/24).")
                % {"entry": entry[:60]},
                "allowed_ips",
            ) from None
        if normal not in cleaned:
            cleaned.append(normal)
    if len(cleaned) > ALLOWED_IPS_MAX:
        raise DomainError(
            ngettext(
                "An allow-list holds at most %(num)d entry.",
                "An allow-list holds at most %(num)d entries.",
                ALLOWED_IPS_MAX,
            )
            % {"num": ALLOWED_IPS_MAX},
            "allowed_ips",
        )
    return cleaned


def _split(allowed_ips: str) -> list[str]:
    return [e for e in allowed_ips.split(",") if e]


def ip_allowed(ip: str, allowed: list[str]) -> bool:
    """Whether `ip` is in the allow-list; an empty list allows every address."""
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(entry) for entry in allowed)


def _attempts_of(identifier: str, ip: str) -> str:
    """API_LIMIT's key: this identifier tried from this address."""
    return f"{identifier[: IDENTIFIER_LENGTH + 1]} {ip}"


async def authenticate(identifier: str | None, secret: str | None, ip: str) -> ApiCaller:
    """The caller these credentials name; ApiAuthError with WHMCS's message otherwise, and
    app.core.errors.Throttled past API_LIMIT (the attempt is counted before anything is checked)."""
    identifier, secret = identifier or "", secret or ""
    attempt = await API_LIMIT.take(_attempts_of(identifier, ip), ip)
    if not identifier or not secret:
        raise ApiAuthError(AUTH_FAILED)
    rows = await ApiCredential.raw(
        "SELECT c.id, c.secret_hash, c.description, c.allowed_ips, c.revoked_at,"
        " a.id AS admin_id, a.name AS admin_name, a.role, a.disabled"
        " FROM api_credentials c JOIN admins a ON a.id = c.admin WHERE c.identifier = {}",
        identifier[: IDENTIFIER_LENGTH + 1],
    )
    if not rows:
        raise ApiAuthError(UNKNOWN_IDENTIFIER)
    row = rows[0]
    if (
        not hmac.compare_digest(secret_hash(secret), row["secret_hash"])
        or row["revoked_at"] is not None
        or row["disabled"]
    ):
        raise ApiAuthError(AUTH_FAILED)
    if not ip_allowed(ip, _split(row["allowed_ips"])):
        raise ApiAuthError(f"Invalid IP {ip}")
    await ApiCredential.update(
        {ApiCredential.last_used_at: clock.now(), ApiCredential.last_used_ip: ip[:45]}
    ).where(ApiCredential.id == row["id"])
    await API_LIMIT.forget_earlier(_attempts_of(identifier, ip), attempt)
    return ApiCaller(
        credential_id=row["id"],
        identifier=identifier,
        description=row["description"],
        admin_id=row["admin_id"],
        admin_name=row["admin_name"],
        role=row["role"],
        ip=ip,
    )


async def create_credential(
    admin_id: int,
    *,
    description: str = "",
    allowed_ips: list[str] | tuple = (),
    actor: Actor,
) -> NewCredential:
    """A new credential for an enabled staff member; its secret is returned here only."""
    description = clean_name(
        description, "Description", "description", required=False, max_length=DESCRIPTION_MAX
    )
    allowed = clean_allowed_ips(allowed_ips)
    identifier = _random_alphanumerics(IDENTIFIER_LENGTH)
    secret = _random_alphanumerics(SECRET_LENGTH)
    async with db.transaction():
        staff = (
            await Admin.select(Admin.name, Admin.disabled).where(Admin.id == admin_id).first()
            if db.valid_id(admin_id)
            else None
        )
        if staff is None:
            raise DomainError(_("There is no such staff member."), "admin_id")
        if staff["disabled"]:
            raise DomainError(
                _("%(name)s's staff login is disabled: they cannot have API credentials.")
                % {"name": staff["name"]},
                "admin_id",
            )
        rows = await ApiCredential.insert(
            ApiCredential(
                identifier=identifier,
                secret_hash=secret_hash(secret),
                description=description,
                allowed_ips=",".join(allowed),
                admin=admin_id,
                created_at=clock.now(),
            )
        ).returning(ApiCredential.id)
        await emit(
            CredentialCreated(credential_id=rows[0]["id"], staff_id=admin_id),
            actor=actor,
            description=f"Created API credential {identifier} for {staff['name']}"
            + (f": {description}" if description else ""),
        )
    return NewCredential(id=rows[0]["id"], identifier=identifier, secret=secret)


async def list_credentials() -> list[dict]:
    """The credentials in use, newest first, each with its staff member's name and email."""
    rows = await ApiCredential.raw(
        "SELECT c.id, c.identifier, c.description, c.allowed_ips, c.created_at,"
        " c.last_used_at, c.last_used_ip, a.id AS admin_id, a.name AS admin_name,"
        " a.email AS admin_email"
        " FROM api_credentials c JOIN admins a ON a.id = c.admin"
        " WHERE c.revoked_at IS NULL ORDER BY c.id DESC"
    )
    return [{**row, "allowed_ips": _split(row["allowed_ips"])} for row in rows]


async def revoke_credential(credential_id: int, *, actor: Actor) -> None:
    """The credential stops working at once; NotFound if it is unknown or already revoked."""
    async with db.transaction():
        rows = (
            await ApiCredential.update({ApiCredential.revoked_at: clock.now()})
            .where((ApiCredential.id == credential_id) & ApiCredential.revoked_at.is_null())
            .returning(ApiCredential.identifier, ApiCredential.admin)
            if db.valid_id(credential_id)
            else []
        )
        if not rows:
            raise NotFound(_("There is no such API credential (it may have been revoked already)."))
        staff = await Admin.select(Admin.name).where(Admin.id == rows[0]["admin"]).first()
        assert staff is not None  # the credential's non-null foreign key, deleted with its staff
        await emit(
            CredentialRevoked(credential_id=credential_id),
            actor=actor,
            description=f"Revoked API credential {rows[0]['identifier']} of {staff['name']}",
        )


async def staff_choices() -> list[dict]:
    """The staff members a credential can be created for: the enabled ones, by name."""
    return await (
        Admin.select(Admin.id, Admin.name, Admin.email)
        .where(Admin.disabled.eq(False))
        .order_by(Admin.name, Admin.id)
    )


async def create_credential_for_staff_email(
    email: str, *, description: str = "", allowed_ips: list[str] | tuple = (), actor: Actor
) -> NewCredential:
    """create_credential for the staff member with this email address (the CLI's way in)."""
    staff = await Admin.select(Admin.id).where(Admin.email_key == email_key(email)).first()
    if staff is None:
        raise DomainError(
            _("There is no staff member with the email address %(email)s.")
            % {"email": repr(email)},
            "email",
        )
    return await create_credential(
        staff["id"], description=description, allowed_ips=allowed_ips, actor=actor
    )
