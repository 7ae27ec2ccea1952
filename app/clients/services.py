"""Client accounts: each has exactly one owner, who holds every permission (rule 1)."""

import msgspec

from app import clock, db, permissions
from app.access.tables import Grant
from app.activity.services import Actor, record
from app.clients.tables import CLIENT_STATUSES, Client
from app.errors import DomainError, Forbidden, NotFound
from app.invitations.tables import Invitation
from app.names import display_name
from app.paging import Page, page_of
from app.users import services as users
from app.users.tables import User
from app.validation import COMPANY_MAX, clean_email, clean_name, clean_search


class Access(msgspec.Struct, frozen=True):
    """What one user may do in one account, as decided by the server."""

    client_id: int
    user_id: int
    is_owner: bool
    permissions: tuple[str, ...]

    def allows(self, key: str) -> bool:
        return self.is_owner or key in self.permissions


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


async def get_client(client_id: int, *, lock: bool = False) -> dict:
    """The account. With `lock` (inside a transaction) its row stays locked until the commit.

    The lock order: every change to an account's people (ownership, grants, invitations,
    acceptance, status) locks the account row first, then re-reads what it decides on. Changes
    to one account are serialised, and no two changes wait for each other in a circle."""
    if not db.valid_id(client_id):
        raise NotFound("No such client account.")
    query = Client.select().where(Client.id == client_id)
    row = await (db.locked(query) if lock else query).first()
    if row is None:
        raise NotFound("No such client account.")
    return row


def check_open(client: dict) -> None:
    """A closed account takes no invitations and no new access."""
    if client["status"] == "Closed":
        raise DomainError("This account is closed. Reopen it first.")


async def create_client(
    *,
    owner_email: str,
    owner_first: str,
    owner_last: str,
    owner_password: str | None = None,
    company: str = "",
    actor: Actor,
) -> int:
    """Creates the account and its owner (reusing the user with that email, if any).

    The account's contact details start as the owner's."""
    company = clean_name(company, "Company name", "company", required=False, max_length=COMPANY_MAX)
    first = clean_name(owner_first, "First name", "owner_first")
    last = clean_name(owner_last, "Last name", "owner_last")
    email, _ = clean_email(owner_email, "owner_email")
    now = clock.now()
    async with db.transaction():
        owner = await users.find_by_email(email)
        if owner is None:
            owner = await users.create_user(
                first_name=first, last_name=last, email=email, password=owner_password, actor=actor
            )
        rows = await Client.insert(
            Client(
                company_name=company,
                first_name=first,
                last_name=last,
                email=email,
                status="Active",
                owner=owner["id"],
                created_at=now,
            )
        ).returning(Client.id)
        client_id = rows[0]["id"]
        await Grant.insert(
            Grant(
                user=owner["id"],
                client=client_id,
                permissions=permissions.serialize(permissions.ALL_KEYS),
                created_at=now,
                updated_at=now,
            )
        )
        name = company or f"{first} {last}"
        await record(
            actor,
            "client.created",
            f"Created client account {name} owned by {users.full_name(owner)}",
            client_id=client_id,
            user_id=owner["id"],
        )
    return client_id


async def update_client(
    client_id: int,
    *,
    company_name: str,
    first_name: str,
    last_name: str,
    email: str,
    actor: Actor,
    status: str | None = None,
) -> dict:
    """Staff may change everything; a client user needs the `profile` permission here and
    cannot change the status."""
    company = clean_name(
        company_name, "Company name", "company_name", required=False, max_length=COMPANY_MAX
    )
    first = clean_name(first_name, "First name", "first_name")
    last = clean_name(last_name, "Last name", "last_name")
    email, _ = clean_email(email)
    if status is not None and status not in CLIENT_STATUSES:
        raise DomainError("Choose Active, Inactive or Closed.", "status")
    async with db.transaction():
        before = await get_client(client_id, lock=True)
        if actor.kind == "user":
            access = await access_for(actor.id, client_id)
            if access is None or not access.allows("profile") or status is not None:
                raise Forbidden("You do not have permission to change this account's profile.")
        after = {
            "company_name": company,
            "first_name": first,
            "last_name": last,
            "email": email,
            "status": status or before["status"],
        }
        changes = [
            f"{col.replace('_', ' ')}: {before[col]!r} -> {new!r}"
            for col, new in after.items()
            if before[col] != new
        ]
        if changes:
            await Client.update({getattr(Client, col): v for col, v in after.items()}).where(
                Client.id == client_id
            )
            if after["status"] == "Closed" and before["status"] != "Closed":
                await _cancel_open_invitations(Invitation.client == client_id)
            await record(
                actor,
                "client.updated",
                f"Updated account {display_name(before)}: " + "; ".join(changes),
                client_id=client_id,
            )
    return await get_client(client_id)


async def transfer_ownership(client_id: int, new_owner_id: int, *, actor: Actor) -> dict:
    """Rule 1: only an admin, only to a user already associated; the old owner keeps full access.
    Returns the account."""
    if actor.kind != "admin":
        raise DomainError("Only staff can transfer the ownership of an account.")
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        if client["owner"] == new_owner_id:
            raise DomainError("This user already owns the account.")
        grant = (
            await Grant.select(Grant.id)
            .where((Grant.client == client_id) & (Grant.user == new_owner_id))
            .first()
        )
        if grant is None:
            raise DomainError("Only a user already associated with the account can own it.")
        old = await User.select().where(User.id == client["owner"]).first()
        new = await users.get_user(new_owner_id)
        now = clock.now()
        all_keys = permissions.serialize(permissions.ALL_KEYS)
        await Client.update({Client.owner: new_owner_id}).where(Client.id == client_id)
        await Grant.update({Grant.permissions: all_keys, Grant.updated_at: now}).where(
            (Grant.client == client_id) & Grant.user.is_in([new_owner_id, client["owner"]])
        )
        # The previous owner's invitations lose their sender's authority (they would be void at
        # acceptance anyway): cancelled now, so nobody sees them as pending.
        voided = await _cancel_open_invitations(
            (Invitation.client == client_id) & (Invitation.invited_by_user == client["owner"])
        )
        await record(
            actor,
            "client.owner_changed",
            f"Owner of {display_name(client)}: {users.full_name(old)} -> {users.full_name(new)}"
            + (f"; {voided} invite(s) sent by the previous owner cancelled" if voided else ""),
            client_id=client_id,
            user_id=new_owner_id,
        )
    return {**client, "owner": new_owner_id}


async def _cancel_open_invitations(condition) -> int:
    """Cancels the open invitations matching `condition`; returns how many."""
    rows = (
        await Invitation.update({Invitation.cancelled_at: clock.now()})
        .where(condition & Invitation.accepted_at.is_null() & Invitation.cancelled_at.is_null())
        .returning(Invitation.id)
    )
    return len(rows)


async def set_status(client_id: int, status: str, *, actor: Actor) -> dict:
    """Staff's Close and Reopen (and Inactive). Closing cancels the account's open invitations;
    its users can no longer enter it. Returns the account."""
    if actor.kind != "admin":
        raise Forbidden("Only staff can change an account's status.")
    if status not in CLIENT_STATUSES:
        raise DomainError("Choose Active, Inactive or Closed.", "status")
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        if client["status"] == status:
            return client
        await Client.update({Client.status: status}).where(Client.id == client_id)
        cancelled = 0
        if status == "Closed":
            cancelled = await _cancel_open_invitations(Invitation.client == client_id)
        await record(
            actor,
            "client.status_changed",
            f"Status of {display_name(client)}: {client['status']} -> {status}"
            + (f"; {cancelled} pending invite(s) cancelled" if cancelled else ""),
            client_id=client_id,
        )
    return {**client, "status": status}


async def search_clients(
    query: str = "", *, page: int = 1, per_page: int = 25
) -> tuple[list[dict], Page]:
    """Accounts whose company, contact or owner matches, with the owner's name; and the page
    shown."""
    select = Client.select(
        *Client.all_columns(),
        Client.owner.first_name.as_alias("owner_first_name"),
        Client.owner.last_name.as_alias("owner_last_name"),
        Client.owner.email.as_alias("owner_email"),
    )
    count = Client.count()
    query = clean_search(query)
    if query:
        pattern = f"%{query}%"
        condition = (
            Client.company_name.ilike(pattern)
            | Client.first_name.ilike(pattern)
            | Client.last_name.ilike(pattern)
            | Client.email.ilike(pattern)
            | Client.owner.email.ilike(pattern)
        )
        select = select.where(condition)
        count = count.where(condition)
    shown = page_of(page, size=per_page, total=await count)
    rows = await select.order_by(Client.id).limit(shown.size).offset(shown.offset)
    return rows, shown


async def register_owner(
    *, first_name: str, last_name: str, email: str, password: str, company: str, ip: str
) -> tuple[dict, int]:
    """Self-registration: a new user and a new client account they own, both or neither."""

    async def own_account(user: dict) -> int:
        return await create_client(
            owner_email=user["email"],
            owner_first=user["first_name"],
            owner_last=user["last_name"],
            company=company,
            actor=Actor("user", user["id"], users.full_name(user), ip),
        )

    return await users.register_user(
        first_name=first_name,
        last_name=last_name,
        email=email,
        password=password,
        ip=ip,
        then=own_account,
    )
