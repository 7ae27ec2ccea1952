"""Client accounts: each has exactly one owner, who holds every permission (rule 1)."""

from datetime import datetime

import msgspec
from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.query.functions.string import Lower
from piccolo.querystring import QueryString

from app.core import clock, db, permissions, stale
from app.core.config import get_settings
from app.core.dberrors import is_foreign_key_violation
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.i18n import N_, _
from app.core.names import display_name, full_name
from app.core.paging import Page, page_of
from app.core.validation import (
    COMPANY_MAX,
    CONTACT_LABELS,
    CONTACT_LIMITS,
    clean_country,
    clean_email,
    clean_name,
    clean_page,
    clean_phone,
    clean_search,
    escape_like,
)
from app.domain.activity.services import Actor
from app.domain.events.catalog import (
    ClientCreated,
    ClientDeleted,
    ClientStatusChanged,
    ClientUpdated,
    GrantAccessUntilChanged,
    OwnerChanged,
    OwnershipTransferVoided,
    UserDeleted,
)
from app.domain.events.stream import emit
from app.domain.mail.lazy import in_reader_language
from app.domain.mail.services import enqueue
from app.domain.two_factor import services as two_factor
from app.domain.users import services as users
from app.schema.clients import CLIENT_STATUSES, Client
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.transfers import OPEN_TRANSFER_STATUSES, OwnershipTransfer
from app.schema.users import User

# The contact details kept on the account, as WHMCS keeps them on the client (its API names
# phone_number `phonenumber`).
CONTACT_FIELDS = (
    "address1",
    "address2",
    "city",
    "state",
    "postcode",
    "country",
    "phone_number",
    "tax_id",
)
# What an account's profile form edits (the client's Account Details, staff's Profile tab): the
# fields of its version. Not its status: closing an account never makes a profile edit stale.
PROFILE_FIELDS = (
    "company_name",
    "first_name",
    "last_name",
    "email",
    *CONTACT_FIELDS,
    "require_two_factor",
)
# The fields of an account as the activity log names them.
FIELD_LABELS = {
    "company_name": "company name",
    "first_name": "first name",
    "last_name": "last name",
    "email": "email",
    "status": "status",
    **{key: label.lower() for key, label in CONTACT_LABELS.items()},
    "require_two_factor": "everyone must use two-factor authentication",
}
# Marked for the catalog, translated where they are shown (_()).
REQUIRE_TWO_FACTOR_LABEL = N_("Everyone with access must use two-factor authentication")
OWNER_ONLY_TWO_FACTOR = N_(
    "Only the account owner can change whether two-factor authentication is required."
)
OWNER_NEEDS_TWO_FACTOR = N_(
    "Turn on two-factor authentication for yourself first (on your Security page): "
    "then you can require it of everyone with access."
)


def _shown(value) -> str:
    """A field's value in the activity log: a flag as on/off, text as quoted."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value)


# list_clients' order_by, in WHMCS's names (GetClients' orderby), and the columns they sort.
# Names sort case-insensitively, the same on both engines.
CLIENT_ORDERS: dict[str, Column | QueryString] = {
    "id": Client.id,
    "firstname": Lower(Client.first_name),
    "lastname": Lower(Client.last_name),
    "companyname": Lower(Client.company_name),
    "email": Lower(Client.email),
    "datecreated": Client.created_at,
    "status": Client.status,
}


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
        raise NotFound(_("No such client account."))
    query = Client.select().where(Client.id == client_id)
    row = await (db.locked(query) if lock else query).first()
    if row is None:
        raise NotFound(_("No such client account."))
    row["require_two_factor"] = bool(row["require_two_factor"])  # 0/1 on SQLite
    return row


def clean_contact(contact: dict) -> dict:
    """The contact details given (keys of CONTACT_FIELDS; a None value: not given), checked and
    tidied: text trimmed, no control characters, lengths capped; the country an ISO code, the
    phone number digits, spaces and + - ( ) . only."""
    unknown = sorted(set(contact) - set(CONTACT_FIELDS))
    if unknown:
        raise DomainError(
            _("Unknown contact field: %(field)s.") % {"field": unknown[0][:40]}, unknown[0][:40]
        )
    cleaned = {}
    for field in CONTACT_FIELDS:
        value = contact.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DomainError(
                _("%(label)s must be text.") % {"label": _(CONTACT_LABELS[field])}, field
            )
        if field == "country":
            cleaned[field] = clean_country(value)
        elif field == "phone_number":
            cleaned[field] = clean_phone(value)
        else:
            cleaned[field] = clean_name(
                value,
                CONTACT_LABELS[field],
                field,
                required=False,
                max_length=CONTACT_LIMITS[field],
            )
    return cleaned


def check_open(client: dict) -> None:
    """A closed account takes no invitations and no new access."""
    if client["status"] == "Closed":
        raise DomainError(_("This account is closed. Reopen it first."))


async def create_client(
    *,
    owner_email: str,
    owner_first: str,
    owner_last: str,
    owner_password: str | None = None,
    company: str = "",
    actor: Actor,
    contact: dict | None = None,
    owner_user_id: int | None = None,
    new_owner_only: bool = False,
) -> int:
    """Creates the account and its owner: the user with that email, reused if there is one (or,
    with `new_owner_only`, refused), else a new user. With `owner_user_id`, that existing user
    owns it instead. Either way the account's contact name and email are the ones given, and
    `contact` its other contact details (see clean_contact)."""
    company = clean_name(company, "Company name", "company", required=False, max_length=COMPANY_MAX)
    first = clean_name(owner_first, "First name", "owner_first")
    last = clean_name(owner_last, "Last name", "owner_last")
    email, _key = clean_email(owner_email, "owner_email")
    details = clean_contact(contact or {})
    # WHMCS's own words (its AddClient answers them, here and in the JSON API): not translated.
    invalid_owner = DomainError("Invalid Owner User ID", "owner_user_id")
    if owner_user_id is not None and (
        isinstance(owner_user_id, bool)
        or not isinstance(owner_user_id, int)
        or not db.valid_id(owner_user_id)
    ):
        raise invalid_owner
    user_exists = DomainError("A user already exists with that email address", "email")
    now = clock.now()
    async with db.transaction():
        owner: dict | None
        if owner_user_id is not None:
            try:
                owner = await users.get_user(owner_user_id, keep=True)
            except NotFound:
                raise invalid_owner from None
        else:
            owner = await users.find_by_email(email)
            if owner is not None and new_owner_only:
                raise user_exists
        if owner is None:
            try:
                owner = await users.create_user(
                    first_name=first,
                    last_name=last,
                    email=email,
                    password=owner_password,
                    actor=actor,
                )
            except DomainError as exc:
                # Created by someone else meanwhile: reused as before, or refused the same way.
                if exc.field != "email" or not new_owner_only:
                    raise
                raise user_exists from exc
        rows = await Client.insert(
            Client(
                company_name=company,
                first_name=first,
                last_name=last,
                email=email,
                status="Active",
                owner=owner["id"],
                created_at=now,
                **details,
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
        await emit(
            ClientCreated(client_id=client_id, user_id=owner["id"]),
            actor=actor,
            description=f"Created client account {name} owned by {users.full_name(owner)}",
        )
    return client_id


async def update_client(
    client_id: int,
    *,
    actor: Actor,
    company_name: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    status: str | None = None,
    contact: dict | None = None,
    require_two_factor: bool | None = None,
    opened: stale.Opened | None = None,
) -> dict:
    """Changes the fields given (None: unchanged; `contact` only its keys present, see
    clean_contact). Staff may change everything; a client user needs the `profile` permission
    here and cannot change the status. `require_two_factor` (everyone with access must use
    two-factor authentication): staff may set it whoever has it; in the client area only the
    owner, and only with two-factor authentication on themselves to turn it on (nobody locks
    themselves out of their own account). Closing cancels the open invitations. A new status is
    told as client.status_changed (as set_status tells it), the other fields changed as
    client.updated: both when both changed, in the one transaction. Returns the account.
    `opened`: the PROFILE_FIELDS the change was prepared on (or their app.core.stale.version);
    when they are others now, nothing is saved (app.core.stale.Stale)."""
    wanted: dict[str, str | bool] = {}
    if company_name is not None:
        wanted["company_name"] = clean_name(
            company_name, "Company name", "company_name", required=False, max_length=COMPANY_MAX
        )
    if first_name is not None:
        wanted["first_name"] = clean_name(first_name, "First name", "first_name")
    if last_name is not None:
        wanted["last_name"] = clean_name(last_name, "Last name", "last_name")
    if email is not None:
        wanted["email"], _key = clean_email(email)
    if status is not None:
        if status not in CLIENT_STATUSES:
            raise DomainError(_("Choose Active, Inactive or Closed."), "status")
        wanted["status"] = status
    wanted.update(clean_contact(contact or {}))
    if require_two_factor is not None:
        if not isinstance(require_two_factor, bool):
            raise DomainError(_("Two-factor required must be true or false."), "require_two_factor")
        wanted["require_two_factor"] = require_two_factor
    async with db.transaction():
        before = await get_client(client_id, lock=True)
        if actor.kind == "user":
            assert actor.id is not None  # a user acts as someone
            access = await access_for(actor.id, client_id)
            if access is None or not access.allows("profile") or status is not None:
                raise Forbidden(_("You do not have permission to change this account's profile."))
            asked = wanted.get("require_two_factor", before["require_two_factor"])
            if asked != before["require_two_factor"]:
                if not access.is_owner:
                    raise DomainError(_(OWNER_ONLY_TWO_FACTOR), "require_two_factor")
                if asked and not await two_factor.is_enabled(two_factor.Person("user", actor.id)):
                    raise DomainError(_(OWNER_NEEDS_TWO_FACTOR), "require_two_factor")
        stale.check(opened, {k: before[k] for k in PROFILE_FIELDS}, wanted)
        changed = {col: new for col, new in wanted.items() if before[col] != new}
        # A new status is told as set_status tells it; client.updated tells the other fields.
        new_status = changed.pop("status", None)
        if changed:
            await Client.update({getattr(Client, col): v for col, v in changed.items()}).where(
                Client.id == client_id
            )
            await emit(
                ClientUpdated(client_id=client_id, fields=tuple(changed)),
                actor=actor,
                description=f"Updated account {display_name(before)}: "
                + "; ".join(
                    f"{FIELD_LABELS[col]}: {_shown(before[col])} -> {_shown(new)}"
                    for col, new in changed.items()
                ),
            )
        if changed.get("require_two_factor") is True and actor.kind != "user":
            await _tell_owner_two_factor_required({**before, **changed})
        if new_status is not None:
            await _change_status({**before, **changed}, str(new_status), actor=actor)
    return await get_client(client_id)


async def _tell_owner_two_factor_required(client: dict) -> None:
    """Staff (a page, an API) made the account require two-factor authentication: its owner,
    who did not choose it, is emailed in the same transaction (an owner who turns it on
    themselves is not)."""
    owner = await users.get_user(client["owner"], keep=True)
    base_url = get_settings().base_url
    await enqueue(
        to=owner["email"],
        template="two_factor_required",
        context={
            "first_name": owner["first_name"],
            "account_name": display_name(client),
            "owner_has_two_factor": bool(owner["totp_enabled"]),
            "security_url": f"{base_url}/account/security",
            "users_url": f"{base_url}/account/users",
        },
    )


async def delete_client(client_id: int, *, delete_users: bool = False, actor: Actor) -> list[int]:
    """Staff only: deletes the account with its grants and invitations (their emails stay in the
    outbox, the activity log keeps its entries). With `delete_users`, also the account's users
    (its owner included) who reach no other account; never one who still does. Returns the ids
    of the users deleted."""
    if actor.kind != "admin":
        raise Forbidden(_("Only staff can delete a client account."))
    try:
        async with db.transaction():
            client = await get_client(client_id, lock=True)
            leaving = []
            if delete_users:
                members = await Grant.select(Grant.user).where(Grant.client == client_id)
                member_ids = {g["user"] for g in members} | {client["owner"]}
                leaving = await _users_only_here(client_id, sorted(member_ids))
            await Grant.delete().where(Grant.client == client_id)
            await Invitation.delete().where(Invitation.client == client_id)
            await Client.delete().where(Client.id == client_id)
            if leaving:
                await User.delete().where(User.id.is_in([u["id"] for u in leaving]))
            name = display_name(client)
            await emit(
                ClientDeleted(client_id=client_id),
                actor=actor,
                description=f"Deleted client account {name} (#{client_id})"
                + (f"; {len(leaving)} user(s) with no other account deleted" if leaving else ""),
            )
            for user in leaving:
                await emit(
                    UserDeleted(user_id=user["id"], client_id=client_id),
                    actor=actor,
                    description=f"Deleted user {full_name(user)} <{user['email']}> with client "
                    f"account {name} (#{client_id}), their only account",
                )
    except Exception as exc:
        if is_foreign_key_violation(exc):  # access given to one of them meanwhile
            raise DomainError(_("The account's users changed meanwhile. Try again.")) from exc
        raise
    return [u["id"] for u in leaving]


async def _users_only_here(client_id: int, user_ids: list[int]) -> list[dict]:
    """Of these users of the account, those who reach no other account (no grant there, and own
    none), locked until the commit: no access elsewhere can be given to them meanwhile (a grant
    waits for the lock, then finds them gone). Locked in id order, so that two deletions sharing
    users never wait for each other in a circle."""
    rows = await db.locked(User.select().where(User.id.is_in(user_ids)).order_by(User.id))
    elsewhere = {
        g["user"]
        for g in await Grant.select(Grant.user).where(
            Grant.user.is_in(user_ids) & (Grant.client != client_id)
        )
    } | {
        c["owner"]
        for c in await Client.select(Client.owner).where(
            Client.owner.is_in(user_ids) & (Client.id != client_id)
        )
    }
    return [row for row in rows if row["id"] not in elsewhere]


def describe_until(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC" if when is not None else "no end"


async def tell_end_changed(
    client: dict, user: dict, before, until, *, actor: Actor, source: str = ""
) -> None:
    """The one event and log line of a grant's end set, changed or cleared (`source`: where
    the new end came from, said after the change)."""
    await emit(
        GrantAccessUntilChanged(
            client_id=client["id"],
            user_id=user["id"],
            access_until_before=before,
            access_until=until,
        ),
        actor=actor,
        description=f"Access of {full_name(user)} to {display_name(client)} ends: "
        f"{describe_until(before)} -> {describe_until(until)}{source}",
    )


async def transfer_ownership(client_id: int, new_owner_id: int, *, actor: Actor) -> dict:
    """Rule 1: only an admin, only to a user already associated; the old owner keeps full access.
    An open ownership transfer of the account is void. Returns the account."""
    if actor.kind != "admin":
        raise DomainError(_("Only staff can transfer the ownership of an account."))
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await move_owner(client, new_owner_id, keep=permissions.ALL_KEYS, actor=actor)
    return {**client, "owner": new_owner_id}


async def move_owner(client: dict, new_owner_id: int, *, keep, actor: Actor) -> None:
    """The one way an account changes owner (staff's Make Owner, a transfer the owner started),
    with rule 1's checks: to a user already associated, and not the owner already. `client`: the
    account as read with its row locked, in the caller's transaction. The new owner gets every
    permission, the old one keeps `keep`; the old owner's open invitations are cancelled and an
    open ownership transfer is void."""
    client_id = client["id"]
    if client["owner"] == new_owner_id:
        raise DomainError(_("This user already owns the account."))
    grant = (
        await Grant.select(Grant.id, Grant.access_until)
        .where((Grant.client == client_id) & (Grant.user == new_owner_id))
        .first()
    )
    if grant is None:
        raise DomainError(_("Only a user already associated with the account can own it."))
    old = await User.select().where(User.id == client["owner"]).first()
    new = await users.get_user(new_owner_id)
    now = clock.now()
    await Client.update({Client.owner: new_owner_id}).where(Client.id == client_id)
    # The owner's access never ends by itself: a new owner's Access until is cleared.
    await Grant.update(
        {
            Grant.permissions: permissions.serialize(permissions.ALL_KEYS),
            Grant.updated_at: now,
            Grant.access_until: None,
            Grant.access_notice_sent: None,
        }
    ).where((Grant.client == client_id) & (Grant.user == new_owner_id))
    await Grant.update(
        {Grant.permissions: permissions.serialize(keep), Grant.updated_at: now}
    ).where((Grant.client == client_id) & (Grant.user == client["owner"]))
    # The previous owner's invitations lose their sender's authority (they would be void at
    # acceptance anyway): cancelled now, so nobody sees them as pending.
    voided = await _cancel_open_invitations(
        (Invitation.client == client_id) & (Invitation.invited_by_user == client["owner"])
    )
    await emit(
        OwnerChanged(client_id=client_id, user_id=new_owner_id, owner_before=client["owner"]),
        actor=actor,
        description=f"Owner of {display_name(client)}: "
        f"{users.full_name(old)} -> {users.full_name(new)}"
        + (f"; {voided} invite(s) sent by the previous owner cancelled" if voided else ""),
    )
    if grant["access_until"] is not None:
        await tell_end_changed(
            client, new, grant["access_until"], None, actor=actor, source=" (now the owner)"
        )
    await void_transfers(client, "owner_changed", actor=actor)


# Why an open ownership transfer became void, as the activity log and the transfer's row say it
# (in English: its emails say it in whole sentences, _transfer_message).
VOID_REASONS = {
    "owner_changed": "the account's owner changed meanwhile",
    "removed": "the chosen user's access to the account was removed",
    "closed": "the account was closed",
}


async def void_transfers(
    client: dict, reason: str, *, actor: Actor, user_id: int | None = None
) -> int:
    """Ends the account's open ownership transfer (only one to `user_id` when given), emailing
    both people; `client`: the account as read with its row locked, in the caller's
    transaction. Returns how many (0 or 1)."""
    condition = (OwnershipTransfer.client == client["id"]) & OwnershipTransfer.status.is_in(
        list(OPEN_TRANSFER_STATUSES)
    )
    if user_id is not None:
        condition &= OwnershipTransfer.to_user == user_id
    ended = (
        await OwnershipTransfer.update(
            {
                OwnershipTransfer.status: "voided",
                OwnershipTransfer.ended_at: clock.now(),
                OwnershipTransfer.ended_reason: VOID_REASONS[reason],
            }
        )
        .where(condition)
        .returning(*OwnershipTransfer.all_columns())
    )
    for transfer in ended:
        people = await transfer_people(transfer)
        await emit(
            OwnershipTransferVoided(
                client_id=client["id"],
                transfer_id=transfer["id"],
                user_id=transfer["to_user"],
                owner_id=transfer["from_user"],
                reason=reason,
            ),
            actor=actor,
            description=f"Ownership transfer of {display_name(client)} to "
            f"{users.full_name(people['to'])} void: {VOID_REASONS[reason]}",
        )
        await email_transfer_step(client, people, "voided", why=reason, actor_name=actor.name)
    return len(ended)


async def transfer_people(transfer: dict) -> dict:
    """The two people of a transfer: {"from": the owner who started it, "to": the chosen user}."""
    rows = await User.select().where(User.id.is_in([transfer["from_user"], transfer["to_user"]]))
    by_id = {row["id"]: row for row in rows}
    return {"from": by_id[transfer["from_user"]], "to": by_id[transfer["to_user"]]}


def _transfer_message(step: str, role: str, c: dict) -> tuple[str, str]:
    """(subject, message) of a transfer's email to one of its two people (`role`: from, to),
    in the current language. `c`: the names (see email_transfer_step)."""
    names = {
        "account": c["account_name"],
        "owner": c["owner_name"],
        "new_owner": c["new_owner_name"],
    }
    mine = role == "from"
    if step == "started":
        if mine:
            return (
                _("You asked to transfer %(account)s to %(new_owner)s") % names,
                _(
                    "You asked to transfer the ownership of %(account)s to %(new_owner)s. They "
                    "have 7 days to accept it; until then you stay the owner, and you can cancel "
                    "it under User Management."
                )
                % names,
            )
        return (
            _("%(owner)s wants to make you the owner of %(account)s") % names,
            _(
                "%(owner)s asked to transfer the ownership of the %(account)s account to you. "
                "Open the link below and choose Accept ownership to become its owner. The link "
                "is valid for 7 days and works once; if you do not want the account, you can "
                "ignore or cancel it."
            )
            % names,
        )
    if step == "awaiting_approval":
        return (
            _("Ownership transfer of %(account)s awaits approval") % names,
            _(
                "%(new_owner)s accepted the ownership of %(account)s. Our staff must approve the "
                "transfer before it takes effect; you will be emailed when they have."
            )
            % names,
        )
    if step == "completed":
        return (
            _("%(new_owner)s now owns %(account)s") % names,
            (
                _(
                    "%(new_owner)s is now the owner of the %(account)s account. You keep access "
                    "to it with the permissions you chose."
                )
                if mine
                else _(
                    "%(new_owner)s is now the owner of the %(account)s account. You can now "
                    "manage its users under User Management."
                )
            )
            % names,
        )
    return _("Ownership transfer of %(account)s ended") % names, _transfer_ended(step, c)


def _transfer_ended(step: str, c: dict) -> str:
    """Why a transfer ended without happening: `step` rejected, cancelled (by c["actor_name"]),
    expired, or voided (c["why"]: a VOID_REASONS key)."""
    values = {
        "account": c["account_name"],
        "owner": c["owner_name"],
        "new_owner": c["new_owner_name"],
        "actor": c["actor_name"],
    }
    why = c["why"] if step == "voided" else step
    if why == "rejected":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: our staff did not approve it. %(owner)s is still its owner."
        )
    elif why == "cancelled":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: %(actor)s cancelled it. %(owner)s is still its owner."
        )
    elif why == "expired":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: it was not accepted within 7 days. %(owner)s is still its owner."
        )
    elif why == "owner_changed":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: the account's owner changed meanwhile. %(owner)s is still its owner."
        )
    elif why == "removed":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: the chosen user's access to the account was removed. %(owner)s is still "
            "its owner."
        )
    elif why == "closed":
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: the account was closed. %(owner)s is still its owner."
        )
    else:
        message = _(
            "The transfer of the %(account)s account from %(owner)s to %(new_owner)s did not "
            "happen: %(why)s. %(owner)s is still its owner."
        )
        values["why"] = VOID_REASONS.get(why, why)
    return message % values


async def email_transfer_step(
    client: dict, people: dict, step: str, *, link: str = "", why: str = "", actor_name: str = ""
) -> None:
    """Emails both people of a transfer what just happened to it (emails/ownership_transfer, in
    each one's language). `step`: started, awaiting_approval, completed, rejected, cancelled,
    expired, voided (`why`: a VOID_REASONS key)."""
    names = {
        "account_name": display_name(client),
        "owner_name": users.full_name(people["from"]),
        "new_owner_name": users.full_name(people["to"]),
        "why": why,
        "actor_name": actor_name,
    }
    for role in ("from", "to"):
        person = people[role]
        await enqueue(
            to=person["email"],
            template="ownership_transfer",
            context={
                "subject": in_reader_language(lambda r=role: _transfer_message(step, r, names)[0]),
                "message": in_reader_language(lambda r=role: _transfer_message(step, r, names)[1]),
                "first_name": person["first_name"],
                "link": link if role == "to" else "",
            },
        )


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
        raise Forbidden(_("Only staff can change an account's status."))
    if status not in CLIENT_STATUSES:
        raise DomainError(_("Choose Active, Inactive or Closed."), "status")
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        if client["status"] == status:
            return client
        await _change_status(client, status, actor=actor)
    return {**client, "status": status}


async def _change_status(client: dict, status: str, *, actor: Actor) -> None:
    """Sets the account's status to `status` (not the one it has: `client` is the account as
    read, its row locked in the caller's transaction) and tells it as client.status_changed,
    whoever asks: staff's Close and Reopen, the API's PATCH, WHMCS UpdateClient and
    CloseClient. Closing cancels the account's open invitations."""
    client_id = client["id"]
    await Client.update({Client.status: status}).where(Client.id == client_id)
    cancelled = 0
    if status == "Closed":
        cancelled = await _cancel_open_invitations(Invitation.client == client_id)
        await void_transfers(client, "closed", actor=actor)
    await emit(
        ClientStatusChanged(client_id=client_id, status_before=client["status"], status=status),
        actor=actor,
        description=f"Status of {display_name(client)}: {client['status']} -> {status}"
        + (f"; {cancelled} pending invite(s) cancelled" if cancelled else ""),
    )


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


# What list_clients' search looks at the start of.
_SEARCHED = ("email", "first_name", "last_name", "first_name || ' ' || last_name", "company_name")


async def list_clients(
    *,
    search: str = "",
    status: str | None = None,
    order_by: str = "id",
    descending: bool = False,
    offset: int = 0,
    limit: int = 25,
) -> tuple[int, list[dict]]:
    """The accounts matching, as (how many match in all, the page asked for). `search`: the
    start of the email, first name, last name, "first last" or company name, case-insensitive
    (ASCII case only on SQLite). `order_by`: a CLIENT_ORDERS name (ties in id order). The limit
    is clamped to 1..LIST_LIMIT_MAX (see clean_page)."""
    if order_by not in CLIENT_ORDERS:
        raise DomainError(
            _("Order by one of: %(names)s.") % {"names": ", ".join(CLIENT_ORDERS)}, "order_by"
        )
    if status is not None and status not in CLIENT_STATUSES:
        raise DomainError(_("Choose Active, Inactive or Closed."), "status")
    offset, limit = clean_page(offset, limit)
    condition: Combinable | None = None
    search = clean_search(search)
    if search:
        pattern = escape_like(search) + "%"
        condition = WhereRaw(
            "("
            + " OR ".join(f"lower({column}) LIKE lower({{}}) ESCAPE '\\'" for column in _SEARCHED)
            + ")",
            *[pattern] * len(_SEARCHED),
        )
    if status is not None:
        by_status = Client.status == status
        condition = by_status if condition is None else condition & by_status
    count = Client.count()
    select = Client.select(
        Client.id,
        Client.first_name,
        Client.last_name,
        Client.company_name,
        Client.email,
        Client.created_at,
        Client.status,
        Client.owner,
    )
    if condition is not None:
        count = count.where(condition)
        select = select.where(condition)
    ascending = not descending
    select = select.order_by(CLIENT_ORDERS[order_by], ascending=ascending)
    if order_by != "id":
        select = select.order_by(Client.id, ascending=ascending)
    return await count, await select.limit(limit).offset(offset)


async def find_client_by_email(email: str) -> dict | None:
    """The account (the lowest id) whose contact email is `email`, case-insensitive."""
    email = (email or "").strip()
    if not email:
        return None
    return (
        await Client.select()
        .where(WhereRaw("lower(email) = lower({})", email))
        .order_by(Client.id)
        .first()
    )


_CLIENT_USERS_SQL = """
SELECT g."user" AS id, u.first_name, u.last_name, u.email, g.permissions,
       g."user" = c.owner AS is_owner, g.access_until
FROM grants g
JOIN users u ON u.id = g."user"
JOIN clients c ON c.id = g.client
WHERE g.client = {}
ORDER BY CASE WHEN g."user" = c.owner THEN 0 ELSE 1 END, g.id"""


async def client_users(client_id: int, *, offset: int = 0, limit: int | None = None) -> list[dict]:
    """Everyone with access to the account: id, names, email, is_owner and their permission
    keys here (every key for the owner); the owner first, then in grant order; `limit` of them
    from `offset` (all if None). One query (an unknown account has nobody)."""
    if not db.valid_id(client_id):
        return []
    sql, args = _CLIENT_USERS_SQL, [client_id]
    if limit is not None:
        sql, args = sql + " LIMIT {} OFFSET {}", [*args, limit, offset]
    people = []
    for row in await Grant.raw(sql, *args):
        is_owner = bool(row["is_owner"])  # 0/1 on SQLite
        people.append(
            {
                "id": row["id"],
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "email": row["email"],
                "is_owner": is_owner,
                "permissions": permissions.granted(row["permissions"], is_owner=is_owner),
                "access_until": db.instant(row["access_until"]),
            }
        )
    return people


async def client_users_page(client_id: int, *, offset: int, limit: int) -> tuple[int, list[dict]]:
    """A slice of client_users, as (how many in all, the slice), the way list_clients answers:
    the database pages, the limit clamped to 1..LIST_LIMIT_MAX (see clean_page)."""
    if not db.valid_id(client_id):
        return 0, []
    offset, limit = clean_page(offset, limit)
    total = await Grant.count().where(Grant.client == client_id)
    return total, await client_users(client_id, offset=offset, limit=limit)


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
