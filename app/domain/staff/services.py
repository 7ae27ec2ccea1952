"""Staff accounts and the admin settings. What each role may do is app.core.policy's."""

from app.core import clock, db, stale
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, Forbidden
from app.core.i18n import BY_NAME, N_, _, clean_zone
from app.core.policy import ROLES, Permission, role_allows
from app.core.security import check_new_password, hash_password, in_hashing_pool
from app.core.validation import clean_email, clean_name
from app.domain.activity.services import Actor
from app.domain.events.catalog import SettingChanged, StaffCreated
from app.domain.events.stream import emit
from app.schema.staff import Admin, Setting

# The roles and what they hold: app.core.policy.

# Admin settings and their defaults.
DISABLE_CLIENT_USER_MANAGEMENT = "disable_client_user_management"
REQUIRE_INVITED_EMAIL = "require_invited_email"
COMPANY_NAME = "company_name"
REQUIRE_STAFF_TWO_FACTOR = "require_staff_two_factor"
REQUIRE_VERIFIED_EMAIL = "require_verified_email"
REQUIRE_TRANSFER_APPROVAL = "require_transfer_approval"
INVITE_LIFETIME_DAYS = "invite_lifetime_days"
INVITE_LIFETIME_MIN, INVITE_LIFETIME_MAX = 1, 30
SETTING_DEFAULTS = {
    DISABLE_CLIENT_USER_MANAGEMENT: "false",
    REQUIRE_INVITED_EMAIL: "false",
    REQUIRE_STAFF_TWO_FACTOR: "false",
    REQUIRE_VERIFIED_EMAIL: "false",
    REQUIRE_TRANSFER_APPROVAL: "false",
    COMPANY_NAME: "Roster",
    INVITE_LIFETIME_DAYS: "7",
}
# As the settings page names them (and so the activity log, in English): marked for the catalog,
# translated where they are shown (`_(SETTING_LABELS[key])`).
SETTING_LABELS = {
    DISABLE_CLIENT_USER_MANAGEMENT: N_("Disable Client Area User Management"),
    REQUIRE_INVITED_EMAIL: N_("Require the invited email to match"),
    REQUIRE_STAFF_TWO_FACTOR: N_("Require two-factor authentication for staff"),
    REQUIRE_VERIFIED_EMAIL: N_("Require a verified email address to accept invitations"),
    REQUIRE_TRANSFER_APPROVAL: N_("Require staff approval of ownership transfers"),
    COMPANY_NAME: N_("Company name"),
    INVITE_LIFETIME_DAYS: N_("Invitation links are valid for (days)"),
}


async def create_admin(*, email: str, password: str, name: str, role: str, actor: Actor) -> int:
    if role not in ROLES:
        raise DomainError(
            _("Role must be one of: %(roles)s.") % {"roles": ", ".join(ROLES)}, "role"
        )
    name = clean_name(name, "Name", "name", max_length=150)
    email, email_key = clean_email(email)
    check_new_password(password, [name, email])
    password_hash = await in_hashing_pool(hash_password, password)
    try:
        async with db.transaction():
            if await Admin.exists().where(Admin.email_key == email_key):
                raise DomainError(_("An admin with this email address already exists."), "email")
            rows = await Admin.insert(
                Admin(
                    name=name,
                    email=email,
                    email_key=email_key,
                    password_hash=password_hash,
                    role=role,
                    created_at=clock.now(),
                )
            ).returning(Admin.id)
            await emit(
                StaffCreated(staff_id=rows[0]["id"], role=role),
                actor=actor,
                description=f"Created admin {name} <{email}> as {ROLES[role].label}",
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(
                _("An admin with this email address already exists."), "email"
            ) from exc
        raise
    return rows[0]["id"]


async def set_language(
    admin_id: int, language: str | None, time_zone: str | None | bool = False
) -> None:
    """A staff member's own language for the admin area (a WHMCS name of app.core.i18n), or
    None: as their browser asks; and, when given, their time zone (None: the browser's)."""
    if language is not None and language not in BY_NAME:
        raise DomainError(_("Choose a language from the list."), "language")
    values: dict = {Admin.language: language}
    if time_zone is not False:
        values[Admin.time_zone] = clean_zone(time_zone if isinstance(time_zone, str) else None)
    await Admin.update(values).where(Admin.id == admin_id)


async def get_setting(key: str) -> str:
    row = await Setting.select(Setting.value).where(Setting.key == key).first()
    return row["value"] if row else SETTING_DEFAULTS[key]


async def get_settings(*keys: str) -> dict[str, str]:
    """Several settings' stored forms, defaults filled in: one query."""
    rows = await Setting.select(Setting.key, Setting.value).where(Setting.key.is_in(list(keys)))
    stored = {row["key"]: row["value"] for row in rows}
    return {key: stored.get(key, SETTING_DEFAULTS[key]) for key in keys}


async def flag(key: str) -> bool:
    return await get_setting(key) == "true"


FLAG_SETTINGS = (
    DISABLE_CLIENT_USER_MANAGEMENT,
    REQUIRE_INVITED_EMAIL,
    REQUIRE_STAFF_TWO_FACTOR,
    REQUIRE_VERIFIED_EMAIL,
    REQUIRE_TRANSFER_APPROVAL,
)
NUMBER_SETTINGS = {INVITE_LIFETIME_DAYS: (INVITE_LIFETIME_MIN, INVITE_LIFETIME_MAX)}
# A number setting's refusal, in a whole sentence (translated where it is raised).
NUMBER_REFUSALS = {
    INVITE_LIFETIME_DAYS: N_(
        "Invitation links are valid for (days): a whole number from %(low)d to %(high)d."
    ),
}
COMPANY_NAME_MAX = 100


async def _stored_settings() -> dict[str, str]:
    """Every setting's stored form, defaults filled in (one query)."""
    stored = {r["key"]: r["value"] for r in await Setting.select(Setting.key, Setting.value)}
    return {key: stored.get(key, default) for key, default in SETTING_DEFAULTS.items()}


async def all_settings() -> dict:
    """Every setting with its current value: flags as booleans, text as text."""
    return {key: _typed(key, value) for key, value in (await _stored_settings()).items()}


def _typed(key: str, value: str) -> bool | int | str:
    if key in FLAG_SETTINGS:
        return value == "true"
    if key in NUMBER_SETTINGS:
        return int(value)
    return value


async def number(key: str) -> int:
    """A number setting's value (stored as text)."""
    return int(await get_setting(key))


async def invite_lifetime_days() -> int:
    """How many days an invitation's link is valid, from its Send or Resend (1 to 30)."""
    return await number(INVITE_LIFETIME_DAYS)


def _clean_number(key: str, value) -> str:
    low, high = NUMBER_SETTINGS[key]
    text = str(value).strip()
    refusal = DomainError(_(NUMBER_REFUSALS[key]) % {"low": low, "high": high}, key)
    if isinstance(value, bool) or not text.isascii() or not text.isdigit():
        raise refusal
    if not low <= int(text) <= high:
        raise refusal
    return str(int(text))


def clean_settings(values: dict) -> dict[str, str]:
    """The settings form's values, checked and in their stored form; DomainError otherwise."""
    unknown = sorted(set(values) - set(SETTING_DEFAULTS))
    if unknown:
        raise DomainError(_("Unknown setting: %(keys)s.") % {"keys": ", ".join(unknown)})
    cleaned = {}
    for key, value in values.items():
        if key in FLAG_SETTINGS:
            if value not in (True, False, "true", "false"):
                raise DomainError(_("Setting %(key)s is either on or off.") % {"key": key}, key)
            cleaned[key] = "true" if value in (True, "true") else "false"
        elif key in NUMBER_SETTINGS:
            cleaned[key] = _clean_number(key, value)
        else:
            cleaned[key] = clean_name(
                value, "Company name", key, required=True, max_length=COMPANY_NAME_MAX
            )
    return cleaned


async def set_setting(key: str, value: str, *, actor: Actor) -> None:
    """One setting, checked, written (insert or update in one statement) and logged."""
    value = clean_settings({key: value})[key]
    async with db.transaction():
        before = await get_setting(key)
        if before == value:
            return
        await Setting.insert(Setting(key=key, value=value)).on_conflict(
            target=Setting.key, action="DO UPDATE", values=[Setting.value]
        )
        await emit(
            SettingChanged(key=key, value_before=before, value=value),
            actor=actor,
            description=f"Setting “{SETTING_LABELS[key]}”: "
            f"{_shown(key, before)} -> {_shown(key, value)}",
        )


def _shown(key: str, stored: str) -> str:
    return {"true": "on", "false": "off"}[stored] if key in FLAG_SETTINGS else stored


async def save_settings(
    values: dict, *, actor: Actor, opened: stale.Opened | None = None
) -> list[str]:
    """Checks every value first, then writes the changed ones in one transaction (one activity
    entry each). Returns the keys that changed. `opened`: every setting as the change was
    prepared on (or their app.core.stale.version); when they are others now, nothing is saved
    (app.core.stale.Stale)."""
    cleaned = clean_settings(values)
    async with db.transaction():
        await db.lock_table(Setting)  # two saves at once: the second compares with the first's
        stored = await _stored_settings()
        stale.check(opened, stored, cleaned)
        changed = [key for key, value in cleaned.items() if stored[key] != value]
        for key in changed:
            await set_setting(key, cleaned[key], actor=actor)
    return changed


async def require_staff_permission(actor: Actor, permission: Permission, refusal: str) -> None:
    """For services that the web routes, the API and the `roster` commands all call: the
    system, or an enabled staff member whose role holds `permission` (read now, so a role
    changed since the request's guard is seen); else Forbidden(`refusal`, translated already)."""
    if actor.kind == "system":
        return
    if actor.kind == "admin" and actor.id is not None:
        staff = await Admin.select(Admin.role, Admin.disabled).where(Admin.id == actor.id).first()
        if staff is not None and not staff["disabled"] and role_allows(staff["role"], permission):
            return
    raise Forbidden(refusal)
