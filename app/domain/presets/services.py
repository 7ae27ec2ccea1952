"""Permission presets: named sets of permission keys that the permissions forms and the API
offer beside All Permissions and Choose Permissions. A preset is a shortcut, not a link: it is
expanded to its keys when a form or a request names it (`keys_of`), and the grant or invitation
keeps those keys; editing or removing a preset changes no grant.

Three are shipped, defined here and fixed (they cannot be edited, renamed or removed): Billing
contact, Technical contact and Full access. Staff with the manage_users permission (the one
that guards the settings) add, edit and remove their own; each change is an event."""

import secrets

import msgspec

from app.core import clock, db, stale
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_, _, ngettext
from app.core.permissions import ALL_KEYS, SHORT_LABELS, deserialize, serialize
from app.core.policy import Permission
from app.core.validation import clean_name, clean_permissions
from app.domain.activity.services import Actor
from app.domain.events.catalog import PresetCreated, PresetDeleted, PresetUpdated
from app.domain.events.stream import emit
from app.domain.staff.services import require_staff_permission
from app.schema.presets import PermissionPreset
from app.schema.staff import Setting

NAME_MAX = 60
# The settings row whose value every change to the presets replaces (a random number, never
# the same twice): read with the session (app.domain.auth.services.load_viewer), it tells a
# process whether the presets it keeps are still those of the database; no row: no preset was
# ever made, only the shipped ones exist.
VERSION_KEY = "presets_version"
# Marked for the catalog, translated where they are raised.
REFUSED = N_("Your role cannot change permission presets.")
GONE = N_("This preset no longer exists: choose another, or choose the permissions.")


class Preset(msgspec.Struct, frozen=True):
    """`id`: a shipped preset's name in lower case with dashes ("billing-contact"), a staff-made
    one's number as text ("7")."""

    id: str
    name: str  # a shipped one's in English, as stored names are compared with it (see `label`)
    permissions: tuple[str, ...]
    shipped: bool = False

    @property
    def label(self) -> str:
        """The name as shown: a shipped preset's translated, a staff-made one's as they wrote it."""
        return _(self.name) if self.shipped else self.name

    @property
    def summary(self) -> str:
        if len(self.permissions) == len(ALL_KEYS):
            return ngettext("All %(num)d permission", "All %(num)d permissions", len(ALL_KEYS)) % {
                "num": len(ALL_KEYS)
            }
        return ", ".join(_(SHORT_LABELS[k]) for k in self.permissions)


# Their names are marked for the catalog and kept in English (what a staff-made preset's name is
# compared with, and what a bulk list's row may name): translated where shown, Preset.label.
SHIPPED: tuple[Preset, ...] = (
    Preset("billing-contact", N_("Billing contact"), ("invoices", "quotes", "emails"), True),
    Preset(
        "technical-contact",
        N_("Technical contact"),
        ("products", "manageproducts", "productsso", "domains", "managedomains", "tickets"),
        True,
    ),
    Preset("full-access", N_("Full access"), ALL_KEYS, True),
)
_SHIPPED_BY_ID = {p.id: p for p in SHIPPED}
_SHIPPED_NAMES = {p.name.lower() for p in SHIPPED}


def _preset(row: dict) -> Preset:
    return Preset(str(row["id"]), row["name"], deserialize(row["permissions"]))


async def list_presets() -> tuple[Preset, ...]:
    """Every preset: the shipped ones, then staff's by name (one statement)."""
    rows = await PermissionPreset.select(
        PermissionPreset.id, PermissionPreset.name, PermissionPreset.permissions
    ).order_by(PermissionPreset.name_key)
    return (*SHIPPED, *(_preset(r) for r in rows))


async def keys_by_name() -> dict[str, tuple[str, ...]]:
    """Every preset's keys under its name in lower case: what a row of a bulk list may name."""
    return {p.name.casefold(): p.permissions for p in await list_presets()}


# The presets as last read by this process, under the version they were read at.
_kept: tuple[str | None, tuple[Preset, ...]] = (None, SHIPPED)


async def offered(version: str | None) -> tuple[Preset, ...]:
    """What the forms offer, `version` being the presets' version read with the request's
    session: kept by the process while the version is the same, so a page that shows them
    runs no statement for them (no version: only the shipped ones)."""
    global _kept
    if version is None:
        return SHIPPED
    if _kept[0] == version:
        return _kept[1]
    presets = await list_presets()
    _kept = (version, presets)
    return presets


async def get_preset(preset_id: str) -> Preset:
    shipped = _SHIPPED_BY_ID.get(preset_id)
    if shipped is not None:
        return shipped
    number = int(preset_id) if preset_id.isdigit() and len(preset_id) < 12 else None
    number = number if number is not None and db.valid_id(number) else None
    row = None
    if number is not None:
        row = (
            await PermissionPreset.select(
                PermissionPreset.id, PermissionPreset.name, PermissionPreset.permissions
            )
            .where(PermissionPreset.id == number)
            .first()
        )
    if row is None:
        raise NotFound(_(GONE))
    return _preset(row)


async def keys_of(preset_id: str) -> tuple[str, ...]:
    """The keys of the preset `preset_id` now: what a form or request naming it gives (a copy:
    nothing keeps the preset's id). DomainError (on the permissions field) when there is none."""
    try:
        return (await get_preset((preset_id or "").strip())).permissions
    except NotFound as exc:
        raise DomainError(_(GONE), "permissions") from exc


def clean_preset(name: str, keys) -> tuple[str, tuple[str, ...]]:
    """A preset's name (1 to 60 characters) and keys (known ones, at least one), checked."""
    name = clean_name(name, "Name", "name", max_length=NAME_MAX)
    if name.lower() in _SHIPPED_NAMES:
        raise DomainError(
            _("“%(name)s” is the name of a shipped preset: choose another.") % {"name": name},
            "name",
        )
    return name, clean_permissions(keys)


def _taken(name: str) -> DomainError:
    return DomainError(
        _("A preset named “%(name)s” already exists: choose another name.") % {"name": name},
        "name",
    )


async def _new_version() -> None:
    """Replaces the presets' version, in the change's transaction."""
    await Setting.insert(Setting(key=VERSION_KEY, value=str(secrets.randbits(62)))).on_conflict(
        target=Setting.key, action="DO UPDATE", values=[Setting.value]
    )


def _listed(keys) -> str:
    return ", ".join(SHORT_LABELS[k] for k in keys)


async def create_preset(name: str, keys, *, actor: Actor) -> dict:
    await require_staff_permission(actor, Permission.MANAGE_USERS, _(REFUSED))
    name, keys = clean_preset(name, keys)
    now = clock.now()
    try:
        async with db.transaction():
            await db.lock_table(PermissionPreset)
            if await PermissionPreset.exists().where(PermissionPreset.name_key == name.lower()):
                raise _taken(name)
            rows = await PermissionPreset.insert(
                PermissionPreset(
                    name=name,
                    name_key=name.lower(),
                    permissions=serialize(keys),
                    created_at=now,
                    updated_at=now,
                )
            ).returning(PermissionPreset.id)
            preset_id = rows[0]["id"]
            await _new_version()
            await emit(
                PresetCreated(preset_id=preset_id, name=name, permissions=keys),
                actor=actor,
                description=f"Created permission preset “{name}”: {_listed(keys)}",
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise _taken(name) from exc
        raise
    return {"id": preset_id, "name": name, "permissions": keys}


def _shipped_refusal(preset_id) -> None:
    if str(preset_id) in _SHIPPED_BY_ID:
        raise DomainError(_("The shipped presets cannot be changed or removed."))


async def _locked_row(preset_id: int) -> dict:
    if not db.valid_id(preset_id):
        raise NotFound(_("This preset no longer exists."))
    select = PermissionPreset.select(
        PermissionPreset.id, PermissionPreset.name, PermissionPreset.permissions
    ).where(PermissionPreset.id == preset_id)
    row = await db.locked(select).first()
    if row is None:
        raise NotFound(_("This preset no longer exists."))
    return row


def edited_values(preset: dict | Preset) -> dict:
    """What an edit form edits of a preset (its stale-edit version, app.core.stale)."""
    if isinstance(preset, Preset):
        return {"name": preset.name, "permissions": list(preset.permissions)}
    return {"name": preset["name"], "permissions": list(deserialize(preset["permissions"]))}


async def update_preset(
    preset_id, *, name: str, keys, actor: Actor, opened: stale.Opened | None = None
) -> dict:
    """Renames a staff-made preset or gives it other keys: a compare-and-set when `opened` (the
    values the form was opened on) is given; grants made from it keep theirs."""
    await require_staff_permission(actor, Permission.MANAGE_USERS, _(REFUSED))
    _shipped_refusal(preset_id)
    name, keys = clean_preset(name, keys)
    number = int(preset_id)
    try:
        async with db.transaction():
            await db.lock_table(PermissionPreset)
            row = await _locked_row(number)
            stale.check(opened, edited_values(row), {"name": name, "permissions": list(keys)})
            before = deserialize(row["permissions"])
            if row["name"] == name and before == keys:
                return {"id": number, "name": name, "permissions": keys, "changed": False}
            if await PermissionPreset.exists().where(
                (PermissionPreset.name_key == name.lower()) & (PermissionPreset.id != number)
            ):
                raise _taken(name)
            await PermissionPreset.update(
                {
                    PermissionPreset.name: name,
                    PermissionPreset.name_key: name.lower(),
                    PermissionPreset.permissions: serialize(keys),
                    PermissionPreset.updated_at: clock.now(),
                }
            ).where(PermissionPreset.id == number)
            await _new_version()
            renamed = f"“{row['name']}” -> “{name}”" if row["name"] != name else f"“{name}”"
            await emit(
                PresetUpdated(
                    preset_id=number,
                    name_before=row["name"],
                    name=name,
                    permissions_before=before,
                    permissions=keys,
                ),
                actor=actor,
                description=f"Changed permission preset {renamed}: "
                f"{_listed(before)} -> {_listed(keys)}",
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise _taken(name) from exc
        raise
    return {"id": number, "name": name, "permissions": keys, "changed": True}


async def delete_preset(preset_id, *, actor: Actor) -> dict:
    """Removes a staff-made preset; grants and invitations made from it keep their keys."""
    await require_staff_permission(actor, Permission.MANAGE_USERS, _(REFUSED))
    _shipped_refusal(preset_id)
    number = int(preset_id)
    async with db.transaction():
        row = await _locked_row(number)
        await PermissionPreset.delete().where(PermissionPreset.id == number)
        await _new_version()
        await emit(
            PresetDeleted(preset_id=number, name=row["name"]),
            actor=actor,
            description=f"Removed permission preset “{row['name']}”",
        )
    return {"id": number, "name": row["name"]}
