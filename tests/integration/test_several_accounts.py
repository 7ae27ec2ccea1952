"""One invitation, several accounts (#25 item 2): one email listing every account, each with
its own permissions; accepting gives every grant still open in one transaction and skips, and
says, an account closed or whose inviter lost the right meanwhile; each account's pending list
shows its part, and Cancel or Resend there touches that part alone."""

import asyncio
import re

import pytest

from app.core import permissions
from app.core.config import get_settings
from app.core.errors import DomainError, Forbidden
from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.schema.activity import ActivityEntry
from app.schema.clients import Client
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user, user_actor
from tests.integration.conftest import page, seen, text_of

GUEST = "guest@example.com"
Wanted = invitations.ForAccount


async def grants_of(user_id: int) -> dict[int, tuple[str, ...]]:
    rows = await Grant.select().where(Grant.user == user_id)
    return {row["client"]: permissions.deserialize(row["permissions"]) for row in rows}


async def invitation_emails() -> list[dict]:
    return await OutboundEmail.select().where(OutboundEmail.template == "invitation")


def link_in(email: dict) -> str:
    return re.search(r"/invite/([A-Za-z0-9_-]+)", email["text_body"]).group(1)


@pytest.fixture
async def three():
    """Three accounts of one owner (Olivia): Alpha, Beta, Gamma."""
    alpha, owner = await make_client("Alpha", owner_email="olivia@example.com")
    beta, gamma = [
        await clients.create_client(
            owner_email="olivia@example.com",
            owner_first="Olivia",
            owner_last="Owner",
            company=company,
            actor=ADMIN,
        )
        for company in ("Beta", "Gamma")
    ]
    return owner, [alpha, beta, gamma]


async def test_one_email_lists_every_account_and_accepting_gives_every_grant_at_once(three):
    owner, (alpha, beta, gamma) = three
    sent = await invitations.invite_to_accounts(
        GUEST,
        [
            Wanted(alpha, ["invoices"]),
            Wanted(beta, ["tickets", "domains"]),
            Wanted(gamma, ["products"]),
        ],
        actor=user_actor(owner),
    )
    assert sent.account_names == ["Alpha", "Beta", "Gamma"]
    (email,) = await invitation_emails()  # one email for the three
    assert email["to_address"] == GUEST and email["invitation"] == sent.invitation_ids[0]
    assert email["subject"] == "Olivia Owner has invited you to their accounts"
    text = email["text_body"]
    for name in ("Alpha", "Beta", "Gamma"):
        assert f"In {name} you will be able to:" in text
    assert "View & Pay Invoices" in text and "View & Open Support Tickets" in text
    assert link_in(email) == sent.token
    # Each account's pending list shows its own part, with its own permissions.
    for client_id, keys in ((alpha, ("invoices",)), (beta, ("domains", "tickets"))):
        (pending,) = await invitations.open_invites(client_id)
        assert pending["email"] == GUEST and set(pending["permission_keys"]) == set(keys)
        assert pending["status"] == "pending"
    # The token in clear is nowhere: only its hash, shared by the three.
    rows = await Invitation.select().order_by(Invitation.id)
    assert len({row["group_token_hash"] for row in rows}) == 1
    assert sent.token not in str(rows)

    guest = await make_user("Gus", "Guest", email=GUEST)
    first = await invitations.accept(sent.token, guest["id"], actor=user_actor(guest))
    assert first == alpha
    assert await grants_of(guest["id"]) == {
        alpha: ("invoices",),
        beta: permissions.deserialize("domains,tickets"),
        gamma: ("products",),
    }
    assert all(row["accepted_by"] == guest["id"] for row in await Invitation.select())
    accepted = await ActivityEntry.select().where(ActivityEntry.action == "invite.accepted")
    assert len(accepted) == 3
    outcome = await invitations.outcome_of_several(sent.invitation_ids[0], guest["id"])
    assert [(o.account_name, o.reached) for o in outcome] == [
        ("Alpha", True),
        ("Beta", True),
        ("Gamma", True),
    ]
    # The link is used: a second acceptance gives nothing.
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(sent.token, guest["id"], actor=user_actor(guest))


async def test_an_account_closed_or_whose_inviter_lost_it_meanwhile_is_skipped_and_said(
    http, three
):
    owner, (alpha, beta, gamma) = three
    sent = await invitations.invite_to_accounts(
        GUEST,
        [Wanted(alpha, ["invoices"]), Wanted(beta, ["tickets"]), Wanted(gamma, ["quotes"])],
        actor=user_actor(owner),
    )
    await clients.set_status(beta, "Closed", actor=ADMIN)
    other = await make_user("Nia", "New", email="nia@example.com")
    await access.grant_access(gamma, other["id"], ["tickets"], actor=ADMIN)
    await Client.update({Client.owner: other["id"]}).where(Client.id == gamma)  # Olivia lost it

    shown = await http.get(f"/invite/{sent.token}")
    assert shown.status_code == 200
    said = text_of(shown)
    assert "You have been invited to 3 accounts" in said
    assert "This account is closed: it will be skipped." in said
    assert "This part of the invitation is no longer valid: it will be skipped." in said

    guest = await make_user("Gus", "Guest", email=GUEST)
    await http.login(GUEST)
    accepted = await http.post(f"/invite/{sent.token}/accept")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/accounts?joined={sent.invitation_ids[0]}"
    assert await grants_of(guest["id"]) == {alpha: ("invoices",)}
    result = await http.get(accepted.headers["location"])
    said = seen(result).replace(" :", ":")
    assert "Invite accepted" in said
    assert "You now have access to 1 account; 2 of the invitation's accounts were skipped." in said
    assert "Alpha: access given" in said
    assert "Beta: skipped. The account is closed." in said
    assert "Gamma: skipped. Whoever invited you no longer owns this account." in said
    # Nobody else reads what it came to.
    await http.post("/logout")
    await http.login("nia@example.com")
    other_view = await http.get(accepted.headers["location"])
    assert "Invite accepted" not in seen(other_view) and "Beta" not in seen(other_view)


async def test_cancelling_on_one_account_leaves_the_others_on_the_link(three):
    owner, (alpha, beta, gamma) = three
    actor = user_actor(owner)
    sent = await invitations.invite_to_accounts(
        GUEST,
        [Wanted(alpha, ["invoices"]), Wanted(beta, ["tickets"]), Wanted(gamma, ["quotes"])],
        actor=actor,
    )
    alpha_id, beta_id, _ = sent.invitation_ids
    await invitations.cancel(beta, beta_id, actor=actor)
    assert [i["id"] for i in await invitations.open_invites(alpha)] == [alpha_id]
    assert await invitations.open_invites(beta) == []
    state = await invitations.link_state(sent.token)
    assert state.state == invitations.LINK_PENDING
    assert [(a["account_name"], a["link"]) for a in state.accounts] == [
        ("Alpha", "pending"),
        ("Beta", "cancelled"),
        ("Gamma", "pending"),
    ]
    guest = await make_user("Gus", "Guest", email=GUEST)
    await invitations.accept(sent.token, guest["id"], actor=user_actor(guest))
    assert set(await grants_of(guest["id"])) == {alpha, gamma}
    outcome = await invitations.outcome_of_several(alpha_id, guest["id"])
    assert [o.reason for o in outcome if not o.reached] == ["Its invitation was cancelled."]


async def test_a_resend_on_one_account_gives_it_a_link_of_its_own(three, monkeypatch):
    owner, (alpha, beta, _) = three
    monkeypatch.setenv("ROSTER_RESEND_COOLDOWN_SECONDS", "0")
    get_settings.cache_clear()
    sent = await invitations.invite_to_accounts(
        GUEST, [Wanted(alpha, ["invoices"]), Wanted(beta, ["tickets"])], actor=user_actor(owner)
    )
    alpha_id, beta_id = sent.invitation_ids
    resent = await invitations.resend(beta, beta_id, actor=ADMIN)
    # The delivery history of Beta's part: the email it was sent with, then its own.
    history = await invitations.delivery_history(beta_id, actor=ADMIN)
    assert [(e["kind"], e["by"]) for e in history["emails"]] == [
        ("Sent", "Olivia Owner"),
        ("Resent", "Ada Admin"),
    ]
    state = await invitations.link_state(sent.token)
    assert [a["account_name"] for a in state.accounts] == ["Alpha"]
    guest = await make_user("Gus", "Guest", email=GUEST)
    await invitations.accept(sent.token, guest["id"], actor=user_actor(guest))
    assert set(await grants_of(guest["id"])) == {alpha}
    outcome = await invitations.outcome_of_several(alpha_id, guest["id"])
    assert [o.reason for o in outcome if not o.reached] == [
        "Its invitation was sent again on its own: use the link in that email."
    ]
    await invitations.accept(resent.token, guest["id"], actor=user_actor(guest))
    assert set(await grants_of(guest["id"])) == {alpha, beta}


async def test_every_refusal_is_said_at_once_and_nothing_is_sent(three):
    owner, (alpha, beta, gamma) = three
    guest = await make_user("Gus", "Guest", email=GUEST)
    await access.grant_access(beta, guest["id"], ["tickets"], actor=ADMIN)
    await invitations.invite(gamma, GUEST, ["quotes"], actor=ADMIN)
    before = await Invitation.count()
    with pytest.raises(DomainError) as refused:
        await invitations.invite_to_accounts(
            GUEST,
            [Wanted(alpha, ["invoices"]), Wanted(beta, ["tickets"]), Wanted(gamma, ["quotes"])],
            actor=user_actor(owner),
        )
    assert refused.value.field == "accounts"
    assert f"{GUEST} already has access to Beta." in refused.value.message
    assert f"An invite to {GUEST} is already pending for Gamma" in refused.value.message
    assert await Invitation.count() == before and len(await invitation_emails()) == 1
    for wanted, field in (
        ([], "accounts"),
        ([Wanted(alpha, ["invoices"]), Wanted(alpha, ["tickets"])], "accounts"),
        ([Wanted(alpha, [])], "accounts"),
        ([Wanted(alpha, ["nope"])], "accounts"),
    ):
        with pytest.raises(DomainError) as refused:
            await invitations.invite_to_accounts(GUEST, wanted, actor=user_actor(owner))
        assert refused.value.field == field
    with pytest.raises(DomainError) as refused:
        await invitations.invite_to_accounts(
            "not an address", [Wanted(alpha, ["invoices"])], actor=user_actor(owner)
        )
    assert refused.value.field == "email"
    assert await Invitation.count() == before


async def test_an_owner_lists_only_accounts_they_own(three):
    owner, (alpha, _, _) = three
    stranger, _ = await make_client("Stranger Co")
    with pytest.raises(Forbidden):
        await invitations.invite_to_accounts(
            GUEST,
            [Wanted(alpha, ["invoices"]), Wanted(stranger, ["invoices"])],
            actor=user_actor(owner),
        )
    assert await Invitation.count() == 0 and await invitation_emails() == []


async def test_two_acceptances_at_once_give_each_grant_once(three):
    owner, accounts = three
    sent = await invitations.invite_to_accounts(
        GUEST, [Wanted(c, ["invoices"]) for c in accounts], actor=user_actor(owner)
    )
    people = [await make_user("P", str(n), email=f"p{n}@example.com") for n in range(4)]

    async def attempt(user):
        try:
            return await invitations.accept(sent.token, user["id"], actor=user_actor(user))
        except invitations.InviteUnavailable:
            return None

    results = await asyncio.gather(*(attempt(u) for u in people))
    winners = [u for u, r in zip(people, results, strict=True) if r is not None]
    assert len(winners) == 1
    assert set(await grants_of(winners[0]["id"])) == set(accounts)
    assert await Grant.count().where(Grant.user.is_in([p["id"] for p in people])) == 3


async def test_an_expired_link_asks_the_inviter_once_for_every_account(http, three):
    owner, (alpha, beta, _) = three
    sent = await invitations.invite_to_accounts(
        GUEST, [Wanted(alpha, ["invoices"]), Wanted(beta, ["tickets"])], actor=user_actor(owner)
    )
    await Invitation.update({Invitation.expires_at: Invitation.created_at}).where(
        Invitation.id.is_in(sent.invitation_ids)
    )
    expired = await http.get(f"/invite/{sent.token}")
    assert expired.status_code == 410 and "This invitation has expired" in text_of(expired)
    listed = text_of(expired).replace(" :", ":")
    assert "Alpha: expired" in listed and "Beta: expired" in listed
    asked = await http.post(f"/invite/{sent.token}/renew")
    assert asked.status_code == 410 and "You have already asked" in text_of(asked)
    (told,) = await OutboundEmail.select().where(
        OutboundEmail.template == "invite_renewal_requested"
    )
    assert told["to_address"] == "olivia@example.com"
    assert "Alpha and Beta" in told["text_body"]
    rows = await Invitation.select().where(Invitation.id.is_in(sent.invitation_ids))
    assert all(row["renewal_requested_at"] is not None for row in rows)
    again = await http.post(f"/invite/{sent.token}/renew")
    assert again.status_code == 409
    assert (
        await OutboundEmail.count().where(OutboundEmail.template == "invite_renewal_requested") == 1
    )


async def test_the_owner_invites_from_user_management(http, three):
    owner, (alpha, beta, gamma) = three
    await http.login("olivia@example.com")
    await http.post(f"/accounts/{alpha}/select")
    users = await http.get("/account/users")
    assert page(users).find("a", string="Invite to several accounts")["href"] == (
        "/account/users/several"
    )
    form = await http.get("/account/users/several")
    boxes = page(form).select("input[name=accounts]")
    assert [b["value"] for b in boxes] == [str(alpha), str(beta), str(gamma)]
    assert [b.has_attr("checked") for b in boxes] == [True, False, False]
    refused = await http.post(
        "/account/users/several",
        {
            "email": GUEST,
            "scope": "all",
            "accounts": [str(alpha), str(beta)],
            "scope-" + str(beta): "choose",
        },
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422
    assert "Beta: Choose at least one permission." in text_of(refused)
    assert page(refused).select_one("#several-email")["value"] == GUEST  # nothing lost
    assert await Invitation.count() == 0
    sent = await http.post(
        "/account/users/several",
        {
            "email": GUEST,
            "scope": "all",
            "accounts": [str(alpha), str(beta)],
            f"scope-{beta}": "choose",
            f"permissions-{beta}": ["tickets", "emails"],
        },
        headers={"HX-Request": "true"},
    )
    assert sent.status_code == 200, sent.text
    assert f"Invite sent to {GUEST} for 2 accounts: Alpha, Beta." in seen(sent)
    rows = {row["client"]: row for row in await Invitation.select()}
    assert set(rows) == {alpha, beta}
    assert len(permissions.deserialize(rows[alpha]["permissions"])) == 13
    assert set(permissions.deserialize(rows[beta]["permissions"])) == {"tickets", "emails"}
    listed = text_of(await http.get("/account/users"))
    assert f"{GUEST} Invite Sent: just now · in one email with other accounts" in listed
    stranger, _ = await make_client("Stranger Co")
    tampered = await http.post(
        "/account/users/several",
        {"email": "x@example.com", "scope": "all", "accounts": [str(alpha), str(stranger)]},
    )
    assert tampered.status_code == 403
    no_csrf = await http.post(
        "/account/users/several",
        {"email": "y@example.com", "scope": "all", "accounts": [str(alpha)]},
        csrf=False,
    )
    assert no_csrf.status_code == 403
    assert await Invitation.count() == 2


async def test_staff_add_accounts_by_number_and_send(http, admin_session, three):
    _, (alpha, beta, gamma) = three
    form = await http.get(f"/admin/clients/{alpha}/users/several")
    assert [b["value"] for b in page(form).select("input[name=accounts]")] == [str(alpha)]
    added = await http.post(
        f"/admin/clients/{alpha}/users/several",
        {
            "email": GUEST,
            "accounts": [str(alpha)],
            "add_accounts": f"{beta}, #{gamma}",
            "action": "add",
        },
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 200
    boxes = page(added).select("input[name=accounts]")
    assert [(b["value"], b.has_attr("checked")) for b in boxes] == [
        (str(alpha), True),
        (str(beta), True),
        (str(gamma), True),
    ]
    assert page(added).select_one("#several-email")["value"] == GUEST
    unknown = await http.post(
        f"/admin/clients/{alpha}/users/several",
        {
            "email": GUEST,
            "accounts": [str(alpha)],
            "add_accounts": "99999999, abc",
            "action": "add",
        },
        headers={"HX-Request": "true"},
    )
    assert unknown.status_code == 422 and "There is no account #99999999." in text_of(unknown)
    offered = page(added).select_one("input[name=offered_list]")["value"]
    sent = await http.post(
        f"/admin/clients/{alpha}/users/several",
        {
            "email": GUEST,
            "scope": "all",
            "offered_list": offered,
            "accounts": [str(alpha), str(gamma)],
            "action": "send",
        },
        headers={"HX-Request": "true"},
    )
    assert sent.status_code == 200, sent.text
    assert {row["client"] for row in await Invitation.select()} == {alpha, gamma}
    (email,) = await invitation_emails()
    assert email["subject"].startswith("An agent of ")
    assert "In Alpha you will be able to:" in email["text_body"]
    assert "In Gamma you will be able to:" in email["text_body"]
    assert "Beta" not in email["text_body"]
