"""Grants: a user's access to a client account, with its own permissions (rules 1, 2, 7, 8)."""

import msgspec

from app import clock, db
from app.access import permissions
from app.access.tables import Grant
from app.access.undo import read_removal_token
from app.activity.services import Actor, record
from app.admin import services as admin_settings
from app.clients.services import check_open, display_name, get_client
from app.clients.tables import Client
from app.dberrors import is_unique_violation
from app.errors import DomainError, Forbidden, NotFound
from app.invitations.tables import Invitation
from app.users.services import full_name, get_user
from app.validation import clean_permissions


class Access(msgspec.Struct, frozen=True):
    """What one user may do in one account, as decided by the server."""

    client_id: int
    user_id: int
    is_owner: bool
    permissions: tuple[str, ...]

    def allows(self, key: str) -> bool:
        return self.is_owner or key in self.permissions


async def check_manager(actor: Actor, client: dict) -> None:
    """Rule 2: in the client area only the owner manages users, and only while staff allow it.
    Staff are checked by their role (app.web.guards)."""
    if actor.kind != "user":
        return
    if client["owner"] != actor.id:
        raise Forbidden("Only the account owner can manage its users.")
    if await admin_settings.flag(admin_settings.DISABLE_CLIENT_USER_MANAGEMENT):
        raise Forbidden(
            "User management is turned off for client accounts. "
            "Contact support to change who has access."
        )


def describe(keys) -> str:
    return ", ".join(keys) if keys else "none"


async def access_for(user_id: int, client_id: int) -> Access | None:
    row = (
        await Grant.select(Grant.permissions, Grant.client.owner.as_alias("owner"))
        .where((Grant.user == user_id) & (Grant.client == client_id))
        .first()
    )
    if row is None:
        return None
    is_owner = row["owner"] == user_id
    keys = permissions.granted(row["permissions"], is_owner=is_owner)
    return Access(client_id, user_id, is_owner, keys)


async def grant_access(client_id: int, user_id: int, keys, *, actor: Actor) -> dict:
    """Gives the user access with these keys; returns the user."""
    keys = clean_permissions(keys)
    now = clock.now()
    try:
        async with db.transaction():
            client = await get_client(client_id, lock=True)
            await check_manager(actor, client)
            check_open(client)
            user = await get_user(user_id, keep=True)
            if await Grant.exists().where((Grant.user == user_id) & (Grant.client == client_id)):
                raise DomainError(f"{full_name(user)} already has access to this account.", "user")
            await Grant.insert(
                Grant(
                    user=user_id,
                    client=client_id,
                    permissions=permissions.serialize(keys),
                    created_at=now,
                    updated_at=now,
                )
            )
            await close_invitations_of(user, [client_id])
            await record(
                actor,
                "access.granted",
                f"Gave {full_name(user)} access to {display_name(client)}: "
                f"none -> {describe(keys)}",
                client_id=client_id,
                user_id=user_id,
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError("This user already has access to this account.", "user") from exc
        raise
    return user


async def close_invitations_of(user: dict, client_ids: list[int]) -> None:
    """Someone who has access needs no invitation: their open invites to these accounts are
    cancelled. Call it inside the change's transaction, the accounts locked."""
    if client_ids:
        await Invitation.update({Invitation.cancelled_at: clock.now()}).where(
            (Invitation.email_key == user["email_key"])
            & Invitation.client.is_in(client_ids)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
        )


async def update_permissions(client_id: int, user_id: int, keys, *, actor: Actor) -> dict:
    """Sets the user's keys on the account; returns the user and the account."""
    keys = clean_permissions(keys)
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        if client["owner"] == user_id:
            raise DomainError("The owner always has every permission; they cannot be changed.")
        grant = (
            await Grant.select()
            .where((Grant.user == user_id) & (Grant.client == client_id))
            .first()
        )
        if grant is None:
            raise NotFound("This user no longer has access to this account.")
        user = await get_user(user_id)
        before = permissions.deserialize(grant["permissions"])
        if before == keys:
            return {"user": user, "client": client}
        await Grant.update(
            {Grant.permissions: permissions.serialize(keys), Grant.updated_at: clock.now()}
        ).where(Grant.id == grant["id"])
        await record(
            actor,
            "access.permissions_changed",
            f"Permissions of {full_name(user)} on {display_name(client)}: "
            f"{describe(before)} -> {describe(keys)}",
            client_id=client_id,
            user_id=user_id,
        )
    return {"user": user, "client": client}


async def revoke_access(client_id: int, user_id: int, *, actor: Actor) -> dict:
    """Deletes the grant, never the user. The owner's access cannot be removed. Returns the user,
    the account and the keys they held (what Undo gives back)."""
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        if client["owner"] == user_id:
            raise DomainError("The owner's access cannot be removed. Transfer ownership first.")
        grant = (
            await Grant.select()
            .where((Grant.user == user_id) & (Grant.client == client_id))
            .first()
        )
        if grant is None:
            raise NotFound("This user no longer has access to this account.")
        user = await get_user(user_id)
        await Grant.delete().where(Grant.id == grant["id"])
        await record(
            actor,
            "access.revoked",
            f"Removed the access of {full_name(user)} to {display_name(client)}: "
            f"{describe(permissions.deserialize(grant['permissions']))} -> none",
            client_id=client_id,
            user_id=user_id,
        )
    return {"user": user, "client": client, "keys": permissions.deserialize(grant["permissions"])}


async def restore_access(client_id: int, token: str, *, actor: Actor) -> dict:
    """Undo of Remove: the same grant again, for whoever removed it, within UNDO_SECONDS.
    Returns the user."""
    removal = read_removal_token(token, client_id=client_id, actor=actor)
    return await grant_access(client_id, removal.user_id, removal.keys, actor=actor)


async def account_users(client_id: int, *, user_id: int | None = None) -> list[dict]:
    """The account's users (or the one user) with their grant, owner first: one query whatever
    the count."""
    query = Grant.select(
        Grant.id.as_alias("grant_id"),
        Grant.permissions,
        Grant.created_at,
        Grant.last_login_at.as_alias("account_last_login_at"),
        Grant.user.id.as_alias("user_id"),
        Grant.user.first_name.as_alias("first_name"),
        Grant.user.last_name.as_alias("last_name"),
        Grant.user.email.as_alias("email"),
        Grant.user.last_login_at.as_alias("last_login_at"),
        Grant.user.last_login_ip.as_alias("last_login_ip"),
        Grant.user.last_login_hostname.as_alias("last_login_hostname"),
        Grant.client.owner.as_alias("owner_id"),
    ).where(Grant.client == client_id)
    if user_id is not None:
        query = query.where(Grant.user == user_id)
    rows = await query.order_by(Grant.id)
    for row in rows:
        row["is_owner"] = row["owner_id"] == row["user_id"]
        row["permission_keys"] = permissions.granted(row["permissions"], is_owner=row["is_owner"])
    rows.sort(key=lambda r: not r["is_owner"])
    return rows


async def user_accounts(user_id: int) -> list[dict]:
    """The user's accounts, owned first, then by name: one query."""
    rows = await Grant.select(
        Grant.client.id.as_alias("client_id"),
        Grant.client.company_name.as_alias("company_name"),
        Grant.client.first_name.as_alias("first_name"),
        Grant.client.last_name.as_alias("last_name"),
        Grant.client.status.as_alias("status"),
        Grant.client.owner.as_alias("owner_id"),
        Grant.client.owner.first_name.as_alias("owner_first_name"),
        Grant.client.owner.last_name.as_alias("owner_last_name"),
        Grant.permissions,
        Grant.last_login_at,
    ).where(Grant.user == user_id)
    for row in rows:
        row["is_owner"] = row["owner_id"] == user_id
        row["name"] = display_name(row)
        row["closed"] = row["status"] == "Closed"
        row["permission_keys"] = permissions.granted(row["permissions"], is_owner=row["is_owner"])
    rows.sort(key=lambda r: (not r["is_owner"], r["name"].lower(), r["client_id"]))
    return rows


async def note_account_login(user_id: int, client_id: int) -> None:
    await Grant.update({Grant.last_login_at: clock.now()}).where(
        (Grant.user == user_id) & (Grant.client == client_id)
    )


async def is_owner(user_id: int, client_id: int) -> bool:
    return await Client.exists().where((Client.id == client_id) & (Client.owner == user_id))
