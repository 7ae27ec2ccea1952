"""Ownership transfers started by the owner: the owner chooses one of the account's users and the
permissions they keep; the chosen user confirms (an emailed one-time link, or in the account);
then, unless staff must approve it first (an admin setting), the ownership moves at once, by the
same rule as staff's Make Owner (app.domain.clients.services.move_owner), under the account's
lock. A transfer lasts 7 days, either person may cancel it, and it is void when what it was made
for changes meanwhile (the owner, the chosen user's access, the account closed): voided eagerly by
those changes, and checked again when it is confirmed or approved. At most one is open per
account: a new one is refused while one is (cancel it first). Both people are emailed at each
step, and each step is an event."""

from datetime import timedelta

from app.core import clock, db, permissions
from app.core.config import get_settings
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.i18n import N_, _
from app.core.security import new_token, token_hash
from app.core.validation import clean_permissions, permission_labels
from app.domain.access.services import check_manager, describe
from app.domain.activity.services import SYSTEM, Actor
from app.domain.clients.services import (
    check_open,
    display_name,
    email_transfer_step,
    get_client,
    move_owner,
    transfer_people,
    void_transfers,
)
from app.domain.events.catalog import (
    OwnershipTransferAccepted,
    OwnershipTransferApproved,
    OwnershipTransferCancelled,
    OwnershipTransferExpired,
    OwnershipTransferRejected,
    OwnershipTransferStarted,
)
from app.domain.events.stream import emit
from app.domain.staff import services as admin_settings
from app.domain.users.services import full_name
from app.schema.grants import Grant
from app.schema.transfers import OPEN_TRANSFER_STATUSES, OwnershipTransfer

VALID_FOR = timedelta(days=7)
UNAVAILABLE = N_("No pending ownership transfer matches this link.")
# Why a transfer is refused when found void (by a clients.services.VOID_REASONS key).
VOID_REFUSALS = {
    "owner_changed": N_("This ownership transfer is void: the account's owner changed meanwhile."),
    "removed": N_(
        "This ownership transfer is void: the chosen user's access to the account was removed."
    ),
    "closed": N_("This ownership transfer is void: the account was closed."),
}


class TransferUnavailable(DomainError):
    """Used, cancelled, expired, void or unknown: one message for all (UNAVAILABLE), unless the
    caller is told which (`why`: "gone", "expired" or "void", for pages that say it by name)."""

    def __init__(self, message: str | None = None, why: str = "gone") -> None:
        super().__init__(_(UNAVAILABLE) if message is None else message)
        self.why = why


def transfer_url(token: str) -> str:
    return f"{get_settings().base_url}/transfer/{token}"


def _is_open():
    return OwnershipTransfer.status.is_in(list(OPEN_TRANSFER_STATUSES))


def _ids(transfer: dict) -> dict:
    return {
        "client_id": transfer["client"],
        "transfer_id": transfer["id"],
        "user_id": transfer["to_user"],
        "owner_id": transfer["from_user"],
    }


async def start(client_id: int, to_user_id: int, keep, *, actor: Actor) -> tuple[int, str]:
    """The owner asks to hand the account to `to_user_id`, one of its users, keeping `keep` (at
    least one permission) once it is done. Returns (the transfer's id, its token)."""
    keep = clean_permissions(keep)
    if not db.valid_id(to_user_id):
        raise DomainError(_("Choose a user of this account."), "user_id")
    token, digest = new_token()
    now = clock.now()
    try:
        async with db.transaction():
            client = await get_client(client_id, lock=True)
            if actor.kind != "user" or client["owner"] != actor.id:
                raise Forbidden(_("Only the account owner can transfer its ownership."))
            await check_manager(actor, client)
            check_open(client)
            if to_user_id == client["owner"]:
                raise DomainError(
                    _("You already own this account. Choose another user."), "user_id"
                )
            if not await Grant.exists().where(
                (Grant.client == client_id) & (Grant.user == to_user_id)
            ):
                raise DomainError(_("Choose a user of this account."), "user_id")
            pending = await open_transfer(client_id)
            if pending is not None:
                raise DomainError(
                    _("A transfer of ownership to %(name)s is already pending. Cancel it first.")
                    % {"name": pending["to_name"]},
                    "user_id",
                )
            rows = await OwnershipTransfer.insert(
                OwnershipTransfer(
                    client=client_id,
                    from_user=client["owner"],
                    to_user=to_user_id,
                    keep_permissions=permissions.serialize(keep),
                    token_hash=digest,
                    status="pending",
                    created_at=now,
                    expires_at=now + VALID_FOR,
                )
            ).returning(*OwnershipTransfer.all_columns())
            transfer = rows[0]
            people = await transfer_people(transfer)
            await emit(
                OwnershipTransferStarted(
                    **_ids(transfer), keep_permissions=keep, expires_at=transfer["expires_at"]
                ),
                actor=actor,
                description=f"Started transferring the ownership of {display_name(client)} to "
                f"{full_name(people['to'])}; {full_name(people['from'])} keeps access "
                f"with {describe(keep)}",
            )
            await email_transfer_step(client, people, "started", link=transfer_url(token))
    except Exception as exc:
        if is_unique_violation(exc):  # another transfer started meanwhile
            raise DomainError(
                _("Another ownership transfer is already pending. Cancel it first."), "user_id"
            ) from exc
        raise
    return transfer["id"], token


async def open_transfer(client_id: int) -> dict | None:
    """The account's open transfer, with its two people's names, or None."""
    if not db.valid_id(client_id):
        return None
    row = (
        await OwnershipTransfer.select(
            *OwnershipTransfer.all_columns(),
            OwnershipTransfer.to_user.first_name.as_alias("to_first_name"),
            OwnershipTransfer.to_user.last_name.as_alias("to_last_name"),
            OwnershipTransfer.to_user.email.as_alias("to_email"),
            OwnershipTransfer.from_user.first_name.as_alias("from_first_name"),
            OwnershipTransfer.from_user.last_name.as_alias("from_last_name"),
        )
        .where((OwnershipTransfer.client == client_id) & _is_open())
        .first()
    )
    if row is None:
        return None
    row["to_name"] = f"{row['to_first_name']} {row['to_last_name']}"
    row["from_name"] = f"{row['from_first_name']} {row['from_last_name']}"
    row["keep"] = permissions.deserialize(row["keep_permissions"])
    row["keep_labels"] = permission_labels(row["keep"])
    row["expired"] = row["expires_at"] <= clock.now()
    return row


async def by_token(token: str) -> dict:
    """The pending transfer behind a link, with its account's name; else TransferUnavailable."""
    if not token or len(token) > 200:
        raise TransferUnavailable()
    row = (
        await OwnershipTransfer.select(OwnershipTransfer.client)
        .where(
            (OwnershipTransfer.token_hash == token_hash(token))
            & (OwnershipTransfer.status == "pending")
        )
        .first()
    )
    found = await open_transfer(row["client"]) if row else None
    if found is None or found["expired"] or found["status"] != "pending":
        raise TransferUnavailable()
    found["account_name"] = display_name(await get_client(found["client"]))
    return found


async def _still_valid(client: dict, transfer: dict) -> str | None:
    """Why the transfer cannot be done now (a VOID_REASONS key), or None. `client` locked."""
    if client["status"] == "Closed":
        return "closed"
    if client["owner"] != transfer["from_user"]:
        return "owner_changed"
    if not await Grant.exists().where(
        (Grant.client == client["id"]) & (Grant.user == transfer["to_user"])
    ):
        return "removed"
    return None


async def _locked_open(transfer_id: int) -> tuple[dict, dict]:
    """The open transfer and its account, the account's row locked (then the transfer re-read).
    NotFound when there is no such open transfer."""
    if not db.valid_id(transfer_id):
        raise NotFound(_("No such ownership transfer."))
    row = (
        await OwnershipTransfer.select(OwnershipTransfer.client)
        .where(OwnershipTransfer.id == transfer_id)
        .first()
    )
    if row is None:
        raise NotFound(_("No such ownership transfer."))
    client = await get_client(row["client"], lock=True)
    transfer = (
        await OwnershipTransfer.select()
        .where((OwnershipTransfer.id == transfer_id) & _is_open())
        .first()
    )
    if transfer is None:
        raise TransferUnavailable(_("This ownership transfer is no longer pending."))
    return client, transfer


async def _end(transfer: dict, status: str, reason: str) -> bool:
    """Claims the open transfer's end (one conditional UPDATE); False when it had ended already."""
    rows = (
        await OwnershipTransfer.update(
            {
                OwnershipTransfer.status: status,
                OwnershipTransfer.ended_at: clock.now(),
                OwnershipTransfer.ended_reason: reason,
            }
        )
        .where((OwnershipTransfer.id == transfer["id"]) & _is_open())
        .returning(OwnershipTransfer.id)
    )
    return bool(rows)


async def _expire(client: dict, transfer: dict, *, actor: Actor) -> bool:
    if not await _end(transfer, "expired", "not accepted within 7 days"):
        return False
    people = await transfer_people(transfer)
    await emit(
        OwnershipTransferExpired(**_ids(transfer), expired_at=transfer["expires_at"]),
        actor=actor,
        description=f"Ownership transfer of {display_name(client)} to "
        f"{full_name(people['to'])} expired",
    )
    await email_transfer_step(client, people, "expired")
    return True


async def _complete(client: dict, transfer: dict, *, actor: Actor) -> None:
    """Moves the ownership (the transfer already claimed as completed), in the caller's
    transaction with the account's row locked."""
    keep = permissions.deserialize(transfer["keep_permissions"])
    await move_owner(client, transfer["to_user"], keep=keep, actor=actor)
    await email_transfer_step(client, await transfer_people(transfer), "completed")


async def accept(transfer_id: int, *, actor: Actor) -> str:
    """The chosen user confirms (by the emailed link's transfer, or the banner in the account).
    Returns "completed" or "awaiting_approval". A transfer found void or expired now is ended
    (and told) and refused."""
    refusal: tuple[str, str] | None = None  # (message, why)
    async with db.transaction():
        client, transfer = await _locked_open(transfer_id)
        if actor.kind != "user" or actor.id != transfer["to_user"]:
            raise Forbidden(_("This ownership transfer is for another user."))
        if transfer["status"] != "pending":
            raise TransferUnavailable(_("You have already accepted this transfer."))
        reason = await _still_valid(client, transfer)
        if transfer["expires_at"] <= clock.now():
            await _expire(client, transfer, actor=actor)
            refusal = (_("This ownership transfer has expired."), "expired")
        elif reason is not None:
            await void_transfers(client, reason, actor=actor)
            refusal = (_(VOID_REFUSALS[reason]), "void")
        else:
            approval = await admin_settings.flag(admin_settings.REQUIRE_TRANSFER_APPROVAL)
            people = await transfer_people(transfer)
            if approval:
                outcome = "awaiting_approval"
                claimed = (
                    await OwnershipTransfer.update(
                        {
                            OwnershipTransfer.status: "awaiting_approval",
                            OwnershipTransfer.accepted_at: clock.now(),
                        }
                    )
                    .where(
                        (OwnershipTransfer.id == transfer_id)
                        & (OwnershipTransfer.status == "pending")
                    )
                    .returning(OwnershipTransfer.id)
                )
                if not claimed:
                    raise TransferUnavailable()
            else:
                outcome = "completed"
                if not await _end(transfer, "completed", "accepted"):
                    raise TransferUnavailable()
                await OwnershipTransfer.update({OwnershipTransfer.accepted_at: clock.now()}).where(
                    OwnershipTransfer.id == transfer_id
                )
            await emit(
                OwnershipTransferAccepted(**_ids(transfer), awaiting_approval=approval),
                actor=actor,
                description=f"{full_name(people['to'])} accepted the ownership of "
                f"{display_name(client)}" + ("; awaiting staff approval" if approval else ""),
            )
            if approval:
                await email_transfer_step(client, people, "awaiting_approval")
            else:
                await _complete(client, transfer, actor=actor)
    if refusal is not None:
        raise TransferUnavailable(*refusal)
    return outcome


async def accept_by_token(token: str, *, actor: Actor) -> str:
    """accept() for the transfer behind an emailed link (TransferUnavailable when none)."""
    transfer = await by_token(token)
    return await accept(transfer["id"], actor=actor)


async def cancel(transfer_id: int, *, actor: Actor) -> None:
    """The owner who started it, or the chosen user, calls it off."""
    async with db.transaction():
        client, transfer = await _locked_open(transfer_id)
        if actor.kind != "user" or actor.id not in (transfer["from_user"], transfer["to_user"]):
            raise Forbidden(_("Only the owner or the chosen user can cancel this transfer."))
        by = "owner" if actor.id == transfer["from_user"] else "user"
        if not await _end(transfer, "cancelled", f"cancelled by {actor.name}"):
            raise TransferUnavailable(_("This ownership transfer is no longer pending."))
        people = await transfer_people(transfer)
        await emit(
            OwnershipTransferCancelled(**_ids(transfer), by=by),
            actor=actor,
            description=f"Cancelled the ownership transfer of {display_name(client)} to "
            f"{full_name(people['to'])}",
        )
        await email_transfer_step(client, people, "cancelled", actor_name=actor.name)


async def decide(transfer_id: int, approve: bool, *, actor: Actor) -> str:
    """Staff approve (the ownership moves now) or reject a transfer awaiting approval. Returns
    "completed", "rejected", or why it could not be done ("expired", a VOID_REASONS key) after
    ending it."""
    if actor.kind != "admin":
        raise Forbidden(_("Only staff can approve an ownership transfer."))
    async with db.transaction():
        client, transfer = await _locked_open(transfer_id)
        if transfer["status"] != "awaiting_approval":
            raise DomainError(_("This transfer has not been accepted by the chosen user yet."))
        people = await transfer_people(transfer)
        names = f"{display_name(client)} to {full_name(people['to'])}"
        if not approve:
            await _end(transfer, "rejected", f"rejected by {actor.name}")
            await emit(
                OwnershipTransferRejected(**_ids(transfer)),
                actor=actor,
                description=f"Rejected the ownership transfer of {names}",
            )
            await email_transfer_step(client, people, "rejected")
            return "rejected"
        if transfer["expires_at"] <= clock.now():
            await _expire(client, transfer, actor=actor)
            return "expired"
        reason = await _still_valid(client, transfer)
        if reason is not None:
            await void_transfers(client, reason, actor=actor)
            return reason
        await _end(transfer, "completed", f"approved by {actor.name}")
        await emit(
            OwnershipTransferApproved(**_ids(transfer)),
            actor=actor,
            description=f"Approved the ownership transfer of {names}",
        )
        await _complete(client, transfer, actor=actor)
    return "completed"


async def expire_due(now=None) -> int:
    """Ends every open transfer whose 7 days have passed, each once across processes (the end is
    claimed by a conditional UPDATE under its account's lock). Returns how many this call ended."""
    now = now or clock.now()
    due = await OwnershipTransfer.select(OwnershipTransfer.id).where(
        _is_open() & (OwnershipTransfer.expires_at <= now)
    )
    ended = 0
    for row in due:
        async with db.transaction():
            try:
                client, transfer = await _locked_open(row["id"])
            except (NotFound, TransferUnavailable):
                continue
            if transfer["expires_at"] <= now and await _expire(client, transfer, actor=SYSTEM):
                ended += 1
    return ended


async def pending_for(user_id: int, client_id: int) -> dict | None:
    """The account's open transfer when it is to `user_id` (the banner in the account)."""
    found = await open_transfer(client_id)
    if (
        found is None
        or found["to_user"] != user_id
        or found["expired"]
        or found["status"] != "pending"  # accepted already: awaiting staff
    ):
        return None
    return found


async def awaiting_approval() -> list[dict]:
    """Every transfer waiting for staff, oldest first, with the account and people's names."""
    rows = (
        await OwnershipTransfer.select(OwnershipTransfer.client)
        .where(OwnershipTransfer.status == "awaiting_approval")
        .order_by(OwnershipTransfer.id)
    )
    return [t for t in [await open_transfer(r["client"]) for r in rows] if t is not None]


async def sweep(now=None) -> int:
    """The sweeper's part (app.asgi.SWEEPS)."""
    return await expire_due(now)
