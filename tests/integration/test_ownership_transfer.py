"""Ownership transfers started by the owner (app.domain.access.transfers), through the services,
on both engines: the happy path, cancelling, expiry, what voids one, the staff-approval setting,
the emails of each step, and a confirmation racing a Remove and a Make Owner."""

import asyncio
from datetime import timedelta

import pytest

from app.core import clock, permissions
from app.core.errors import DomainError, Forbidden
from app.core.security import token_hash
from app.domain.access import transfers
from app.domain.access.services import access_for, grant_access, revoke_access
from app.domain.activity.services import entries
from app.domain.clients import services as clients
from app.domain.staff import services as admin_settings
from app.schema import invariants
from app.schema.clients import Client
from app.schema.grants import Grant
from app.schema.mail import OutboundEmail
from app.schema.transfers import OwnershipTransfer
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor


@pytest.fixture
def later(monkeypatch):
    """Moves the app's clock on by the delta given."""
    passed = [timedelta(0)]
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + passed[0])

    def move(delta: timedelta) -> None:
        passed[0] += delta

    return move


async def _account():
    client_id, owner = await make_client(company="Handover Ltd")
    heir = await make_user(first="Hana", last="Heir", email=unique_email("heir"))
    other = await make_user(first="Otto", last="Other", email=unique_email("other"))
    await grant_access(client_id, heir["id"], ["tickets"], actor=ADMIN)
    await grant_access(client_id, other["id"], ["invoices"], actor=ADMIN)
    return client_id, owner, heir, other


async def _emails(to: str) -> list[dict]:
    return await (
        OutboundEmail.select()
        .where((OutboundEmail.to_address == to) & (OutboundEmail.template == "ownership_transfer"))
        .order_by(OutboundEmail.id)
    )


async def _actions(client_id: int) -> list[str]:
    _count, rows = await entries(client_id=client_id, limit=200)
    return [row["action"] for row in rows]


async def _owner(client_id: int) -> int:
    row = await Client.select(Client.owner).where(Client.id == client_id).first()
    return row["owner"]


async def _status(transfer_id: int) -> str:
    row = await OwnershipTransfer.select().where(OwnershipTransfer.id == transfer_id).first()
    return row["status"]


async def _start(client_id, owner, heir, keep=("tickets", "invoices")):
    return await transfers.start(client_id, heir["id"], list(keep), actor=user_actor(owner))


async def test_the_owner_hands_the_account_over_and_keeps_what_they_chose():
    client_id, owner, heir, _ = await _account()
    transfer_id, token = await _start(client_id, owner, heir)

    # Stored only hashed; the chosen user's email carries the link, the owner's does not.
    row = await OwnershipTransfer.select().where(OwnershipTransfer.id == transfer_id).first()
    assert row["token_hash"] == token_hash(token) and token not in str(row)
    to_heir, to_owner = await _emails(heir["email"]), await _emails(owner["email"])
    assert len(to_heir) == 1 and f"/transfer/{token}" in to_heir[0]["text_body"]
    assert "wants to make you the owner of Handover Ltd" in to_heir[0]["subject"]
    assert len(to_owner) == 1 and token not in to_owner[0]["text_body"]
    assert (await transfers.open_transfer(client_id))["to_user"] == heir["id"]
    assert (await transfers.pending_for(heir["id"], client_id))["id"] == transfer_id
    assert await transfers.pending_for(owner["id"], client_id) is None
    assert await _owner(client_id) == owner["id"]  # nothing moves before the confirmation

    assert await transfers.accept_by_token(token, actor=user_actor(heir)) == "completed"

    assert await _owner(client_id) == heir["id"]
    kept = await access_for(owner["id"], client_id)
    assert kept is not None and not kept.is_owner
    assert set(kept.permissions) == {"tickets", "invoices"}
    heirs = await access_for(heir["id"], client_id)
    assert heirs is not None and heirs.is_owner
    assert await _status(transfer_id) == "completed"
    assert await transfers.open_transfer(client_id) is None
    assert "now owns Handover Ltd" in (await _emails(heir["email"]))[-1]["subject"]
    assert "now owns Handover Ltd" in (await _emails(owner["email"]))[-1]["subject"]
    actions = await _actions(client_id)
    for action in (
        "client.ownership_transfer_started",
        "client.ownership_transfer_accepted",
        "client.owner_changed",
    ):
        assert action in actions
    assert await invariants.violations() == []

    # The link works once.
    with pytest.raises(transfers.TransferUnavailable):
        await transfers.accept_by_token(token, actor=user_actor(heir))


async def test_the_link_is_refused_to_anyone_but_the_chosen_user():
    client_id, owner, heir, other = await _account()
    transfer_id, token = await _start(client_id, owner, heir)
    for someone in (other, owner):
        with pytest.raises(Forbidden):
            await transfers.accept_by_token(token, actor=user_actor(someone))
    with pytest.raises(transfers.TransferUnavailable):
        await transfers.accept_by_token(token + "x", actor=user_actor(heir))
    assert await _owner(client_id) == owner["id"]
    assert await _status(transfer_id) == "pending"


async def test_bad_starts_are_refused_and_change_nothing():
    client_id, owner, heir, other = await _account()
    outsider = await make_user(email=unique_email("outsider"))
    with pytest.raises(DomainError, match="at least one permission"):
        await transfers.start(client_id, heir["id"], [], actor=user_actor(owner))
    with pytest.raises(DomainError, match="Unknown permission"):
        await transfers.start(client_id, heir["id"], ["root"], actor=user_actor(owner))
    with pytest.raises(DomainError, match="Choose a user of this account"):
        await transfers.start(client_id, outsider["id"], ["tickets"], actor=user_actor(owner))
    with pytest.raises(DomainError, match="already own"):
        await transfers.start(client_id, owner["id"], ["tickets"], actor=user_actor(owner))
    with pytest.raises(Forbidden):
        await transfers.start(client_id, other["id"], ["tickets"], actor=user_actor(heir))
    assert await OwnershipTransfer.count() == 0
    assert await _emails(heir["email"]) == []

    # One open transfer per account: a second is refused while the first is pending.
    await _start(client_id, owner, heir)
    with pytest.raises(DomainError, match="already pending"):
        await _start(client_id, owner, other)
    assert await OwnershipTransfer.count() == 1


@pytest.mark.parametrize("who", ["owner", "heir"])
async def test_either_person_may_cancel(who):
    client_id, owner, heir, other = await _account()
    transfer_id, token = await _start(client_id, owner, heir)
    with pytest.raises(Forbidden):
        await transfers.cancel(transfer_id, actor=user_actor(other))
    await transfers.cancel(transfer_id, actor=user_actor(owner if who == "owner" else heir))
    assert await _status(transfer_id) == "cancelled"
    for person in (owner, heir):
        assert "ended" in (await _emails(person["email"]))[-1]["subject"]
    with pytest.raises(transfers.TransferUnavailable):
        await transfers.accept_by_token(token, actor=user_actor(heir))
    assert await _owner(client_id) == owner["id"]
    # A new one may start now.
    await _start(client_id, owner, other)


async def test_a_transfer_expires_after_7_days_once(later):
    client_id, owner, heir, _ = await _account()
    transfer_id, token = await _start(client_id, owner, heir)
    later(timedelta(days=6, hours=23))
    assert await transfers.expire_due() == 0
    later(timedelta(hours=2))
    with pytest.raises(transfers.TransferUnavailable):  # the link is dead at once
        await transfers.accept_by_token(token, actor=user_actor(heir))
    results = await asyncio.gather(*(transfers.expire_due() for _ in range(3)))
    assert sum(results) == 1
    assert await _status(transfer_id) == "expired"
    assert await _owner(client_id) == owner["id"]
    for person in (owner, heir):
        emails = await _emails(person["email"])
        assert len(emails) == 2 and "within 7 days" in emails[-1]["text_body"]
    actions = await _actions(client_id)
    assert actions.count("client.ownership_transfer_expired") == 1


async def test_an_expired_transfer_is_refused_at_confirmation_even_before_the_sweep(later):
    client_id, owner, heir, _ = await _account()
    transfer_id, _token = await _start(client_id, owner, heir)
    later(timedelta(days=8))
    with pytest.raises(transfers.TransferUnavailable, match="expired"):
        await transfers.accept(transfer_id, actor=user_actor(heir))
    assert await _status(transfer_id) == "expired"
    assert await _owner(client_id) == owner["id"]


async def _void_by(how: str, client_id: int, heir: dict, other: dict) -> None:
    if how == "make_owner":
        await clients.transfer_ownership(client_id, other["id"], actor=ADMIN)
    elif how == "removal":
        await revoke_access(client_id, heir["id"], actor=ADMIN)
    else:
        await clients.set_status(client_id, "Closed", actor=ADMIN)


@pytest.mark.parametrize("how", ["make_owner", "removal", "closure"])
async def test_a_change_meanwhile_voids_the_transfer(how):
    client_id, owner, heir, other = await _account()
    transfer_id, token = await _start(client_id, owner, heir)
    await _void_by(how, client_id, heir, other)
    assert await _status(transfer_id) == "voided"
    for person in (owner, heir):
        assert "ended" in (await _emails(person["email"]))[-1]["subject"]
    with pytest.raises(transfers.TransferUnavailable):
        await transfers.accept_by_token(token, actor=user_actor(heir))
    assert await _owner(client_id) == (other["id"] if how == "make_owner" else owner["id"])
    actions = await _actions(client_id)
    assert "client.ownership_transfer_voided" in actions
    assert await invariants.violations() == []


async def test_removing_someone_else_leaves_the_transfer_open():
    client_id, owner, heir, other = await _account()
    transfer_id, _ = await _start(client_id, owner, heir)
    await revoke_access(client_id, other["id"], actor=ADMIN)
    assert await _status(transfer_id) == "pending"


async def test_a_void_transfer_found_at_confirmation_is_ended_and_refused():
    """Made void behind the services' back (a direct database change): checked again under the
    account's lock when confirmed."""
    client_id, owner, heir, _ = await _account()
    transfer_id, _ = await _start(client_id, owner, heir)
    await Grant.delete().where((Grant.client == client_id) & (Grant.user == heir["id"]))
    with pytest.raises(transfers.TransferUnavailable, match="void"):
        await transfers.accept(transfer_id, actor=user_actor(heir))
    assert await _status(transfer_id) == "voided"
    assert await _owner(client_id) == owner["id"]


@pytest.mark.parametrize("approve", [True, False])
async def test_staff_approval_when_the_setting_asks_for_it(approve):
    await admin_settings.set_setting(admin_settings.REQUIRE_TRANSFER_APPROVAL, "true", actor=ADMIN)
    client_id, owner, heir, _ = await _account()
    transfer_id, token = await _start(client_id, owner, heir, keep=["invoices"])
    with pytest.raises(DomainError, match="not been accepted"):
        await transfers.decide(transfer_id, True, actor=ADMIN)

    assert await transfers.accept_by_token(token, actor=user_actor(heir)) == "awaiting_approval"
    assert await _owner(client_id) == owner["id"]
    assert await _status(transfer_id) == "awaiting_approval"
    assert "awaits approval" in (await _emails(owner["email"]))[-1]["subject"]
    assert [t["id"] for t in await transfers.awaiting_approval()] == [transfer_id]
    assert await transfers.pending_for(heir["id"], client_id) is None  # no banner any more
    with pytest.raises(Forbidden):
        await transfers.decide(transfer_id, True, actor=user_actor(owner))

    outcome = await transfers.decide(transfer_id, approve, actor=ADMIN)
    if approve:
        assert outcome == "completed"
        assert await _owner(client_id) == heir["id"]
        kept = await access_for(owner["id"], client_id)
        assert kept is not None and kept.permissions == ("invoices",)
        assert "now owns" in (await _emails(heir["email"]))[-1]["subject"]
    else:
        assert outcome == "rejected"
        assert await _owner(client_id) == owner["id"]
        assert "did not approve" in (await _emails(heir["email"]))[-1]["text_body"]
    assert await transfers.open_transfer(client_id) is None
    assert await invariants.violations() == []


async def test_the_setting_is_off_by_default():
    assert not await admin_settings.flag(admin_settings.REQUIRE_TRANSFER_APPROVAL)


async def _one_owner_who_can_enter(client_id: int) -> int:
    owner = await _owner(client_id)
    access = await access_for(owner, client_id)
    assert access is not None and access.is_owner
    assert access.permissions == permissions.ALL_KEYS
    assert await invariants.violations() == []
    assert await transfers.open_transfer(client_id) is None
    return owner


@pytest.mark.parametrize("rival", ["removal", "make_owner"])
async def test_a_confirmation_racing_a_change_leaves_exactly_one_owner(rival):
    for _ in range(4):
        client_id, owner, heir, other = await _account()
        transfer_id, _ = await _start(client_id, owner, heir)
        accepting = transfers.accept(transfer_id, actor=user_actor(heir))
        if rival == "removal":
            changing = revoke_access(client_id, heir["id"], actor=ADMIN)
        else:
            changing = clients.transfer_ownership(client_id, other["id"], actor=ADMIN)
        accepted, changed = await asyncio.gather(accepting, changing, return_exceptions=True)
        owner_now = await _one_owner_who_can_enter(client_id)
        if not isinstance(accepted, BaseException):
            assert accepted == "completed"
            # The transfer went first: a removal of the new owner is then refused; a Make
            # Owner after it moves the account on.
            if rival == "removal":
                assert isinstance(changed, DomainError) and owner_now == heir["id"]
            else:
                assert not isinstance(changed, BaseException) and owner_now == other["id"]
        else:
            assert isinstance(accepted, transfers.TransferUnavailable), accepted
            assert not isinstance(changed, BaseException), changed
            assert owner_now == (owner["id"] if rival == "removal" else other["id"])
            assert await _status(transfer_id) == "voided"
