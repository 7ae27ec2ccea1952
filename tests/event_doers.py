"""Every kind of change Roster makes, done for real through its service, one at a time: a
`World` to do it in, and for each kind of event the doer that makes one happen (DOERS). The
stream's tests (tests/integration/test_events.py: the pages that show it are told) and the
webhooks' (tests/integration/test_webhooks.py: it arrives, signed, with its documented body)
share them, so a kind added to the catalog without a doer fails both.

A doer returns the live news the pages that show its kind must be told (none for a kind no page
shows); it may note in `world.secrets` what it saw that no event may carry."""

import re
from collections.abc import Callable
from datetime import timedelta

import msgspec

from app.core import db
from app.domain.events import catalog
from app.domain.live import broker as live
from tests.factories import ADMIN, PASSWORD, make_client, make_user, unique_email, user_actor

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
STAFF_PASSWORD = "admin-passphrase-77"


def _no_moving_clock(_delta: timedelta) -> None:
    raise AssertionError("this change needs time to pass: give World a moving clock's advance")


class World:
    """An account with an owner and a member, a second account the member also reaches, and an
    open invitation. `pass_time(delta)` moves the app's clock on (a test's moving clock), for
    the changes time makes (invite.expired)."""

    def __init__(self, pass_time: Callable[[timedelta], None] = _no_moving_clock) -> None:
        self.pass_time = pass_time

    async def build(self):
        from app.domain.access.services import grant_access
        from app.domain.invitations import services as invitations

        self.client, self.owner = await make_client(company="Watched")
        self.other, self.other_owner = await make_client(company="Also Reached")
        self.member = await make_user(first="Mia", email=unique_email("mia"))
        await grant_access(self.client, self.member["id"], ["tickets"], actor=ADMIN)
        await grant_access(self.other, self.member["id"], ["tickets"], actor=ADMIN)
        self.invitation, self.token = await invitations.invite(
            self.client, unique_email("invited"), ["tickets"], actor=ADMIN
        )
        self.secrets = [PASSWORD, STAFF_PASSWORD, self.token]
        return self


# Kinds a page shows.


async def _grant_created(w):
    from app.domain.access.services import grant_access

    newcomer = await make_user(first="Nel")
    await grant_access(w.client, newcomer["id"], ["invoices"], actor=ADMIN)
    return [live.account(w.client, live.PEOPLE)]


async def _grant_updated(w):
    from app.domain.access.services import update_permissions

    await update_permissions(w.client, w.member["id"], ["invoices"], actor=ADMIN)
    return [live.account(w.client, live.PEOPLE)]


async def _grant_deleted(w):
    from app.domain.access.services import revoke_access

    await revoke_access(w.client, w.member["id"], actor=ADMIN)
    return [live.account(w.client, live.PEOPLE)]


async def _grant_access_until_changed(w):
    from app.core import clock
    from app.domain.access.services import set_access_until

    await set_access_until(w.client, w.member["id"], clock.now() + timedelta(days=30), actor=ADMIN)
    return [live.account(w.client, live.PEOPLE)]


async def _grant_expired(w):
    """The member's Access until comes: the sweeper's next look removes the grant."""
    from app.core import clock
    from app.domain.access.services import end_expired_access, set_access_until

    await set_access_until(w.client, w.member["id"], clock.now() + timedelta(days=2), actor=ADMIN)
    assert await end_expired_access(clock.now() + timedelta(days=3)) == 1
    return [live.account(w.client, live.PEOPLE)]


async def _account_entered(w):
    from app.domain.access.services import note_account_login

    await note_account_login(w.member["id"], w.client)
    return [live.account(w.client, live.PEOPLE)]


async def _invite_sent(w):
    from app.domain.invitations import services as invitations

    await invitations.invite(w.client, unique_email("second"), ["tickets"], actor=ADMIN)
    return [live.account(w.client, live.INVITES, live.PEOPLE), live.MAIL]


async def _invite_resent(w):
    from app.domain.invitations import services as invitations

    await invitations.resend(w.client, w.invitation, actor=ADMIN)
    return [live.account(w.client, live.INVITES, live.PEOPLE), live.MAIL]


async def _invite_cancelled(w):
    from app.domain.invitations import services as invitations

    await invitations.cancel(w.client, w.invitation, actor=ADMIN)
    return [live.account(w.client, live.INVITES, live.PEOPLE)]


async def _invite_link_copied(w):
    """The sender copies the link shown after Send (logged; no page shows it)."""
    from app.domain.invitations import services as invitations

    await invitations.note_link_copied(w.client, w.invitation, actor=ADMIN)
    return []


async def _invite_access_until_changed(w):
    from app.core import clock
    from app.domain.invitations import services as invitations

    await invitations.set_access_until(
        w.client, w.invitation, clock.now() + timedelta(days=30), actor=ADMIN
    )
    return [live.account(w.client, live.INVITES, live.PEOPLE)]


async def _invite_renewal_requested(w):
    """The open invitation expires; its link's holder asks for a new one (the owner is told:
    the world's staff invitation has no staff row behind it)."""
    from app.core import clock
    from app.domain.invitations import services as invitations
    from app.schema.invitations import Invitation

    await Invitation.update({Invitation.expires_at: clock.now() - timedelta(minutes=1)}).where(
        Invitation.id == w.invitation
    )
    await invitations.request_renewal(w.token, ip="203.0.113.9")
    return [live.account(w.client, live.INVITES, live.PEOPLE), live.MAIL]


async def _invite_accepted(w):
    from app.domain.invitations import services as invitations

    joiner = await make_user(first="Jo")
    await invitations.accept(w.token, joiner["id"], actor=user_actor(joiner))
    return [live.account(w.client, live.INVITES, live.PEOPLE)]


async def _client_updated(w):
    from app.domain.clients import services as clients

    await clients.update_client(w.client, company_name="Renamed Co", actor=ADMIN)
    return [live.account(w.client, *catalog.EVERY_REGION), live.CLIENTS]


async def _client_status_changed(w):
    from app.domain.clients import services as clients

    await clients.set_status(w.client, "Inactive", actor=ADMIN)
    return [live.account(w.client, *catalog.EVERY_REGION), live.CLIENTS]


async def _owner_changed(w):
    from app.domain.clients import services as clients

    await clients.transfer_ownership(w.client, w.member["id"], actor=ADMIN)
    return [live.account(w.client, *catalog.EVERY_REGION), live.CLIENTS]


async def _user_updated(w):
    from app.domain.users import services as users

    owner = w.owner
    await users.update_user(
        owner["id"],
        first_name="Ottilie",
        last_name=owner["last_name"],
        email=owner["email"],
        language=owner["language"],
        actor=ADMIN,
    )
    return [live.account(w.client, live.PEOPLE), live.CLIENTS]


async def _user_signed_in(w):
    from app.domain.users import services as users

    await users.record_login(w.member["id"], ip="203.0.113.7", hostname="mia.example.net")
    return [live.account(w.client, live.PEOPLE), live.account(w.other, live.PEOPLE)]


async def _user_email_verified(w):
    from app.domain.verification import services as verification
    from app.schema.mail import OutboundEmail

    async with db.transaction():
        await verification.send_link(w.member, actor=ADMIN)
    body = (
        await OutboundEmail.select(OutboundEmail.text_body)
        .where(OutboundEmail.to_address == w.member["email"])
        .order_by(OutboundEmail.id, ascending=False)
        .first()
    )["text_body"]
    token = re.search(r"/verify-email/(\S+)", body).group(1)
    outcome, _user = await verification.verify(token, ip="203.0.113.7")
    assert outcome == verification.Outcome.VERIFIED
    return [live.account(w.client, live.PEOPLE), live.account(w.other, live.PEOPLE)]


async def _client_created(w):
    from app.domain.clients.services import find_client_by_email

    email = unique_email("founder")
    await make_client(company="Brand New", owner_email=email)
    new = (await find_client_by_email(email))["id"]
    w.created = new
    return [live.account(new, *catalog.EVERY_REGION), live.CLIENTS]


async def _client_deleted(w):
    from app.domain.clients import services as clients

    await clients.delete_client(w.other, actor=ADMIN)
    return [live.account(w.other, *catalog.EVERY_REGION), live.CLIENTS]


async def _email_queued(w):
    from app.domain.mail.services import enqueue

    async with db.transaction():
        await enqueue(
            to=w.member["email"],
            template="password_reset",
            context={"first_name": "Mia", "reset_url": "http://x/reset", "valid_hours": 1},
        )
    return [live.MAIL]


async def _deliver(w, fails: bool) -> list[str]:
    from app.core.config import get_settings
    from app.domain.mail import worker

    async def fake_send(*_args, **_kwargs):
        if fails:
            raise OSError("connection refused")

    settings = msgspec.structs.replace(get_settings(), smtp_url="smtp://127.0.0.1:25")
    original, worker.aiosmtplib.send = worker.aiosmtplib.send, fake_send
    try:
        await worker.deliver_due(settings, limit=50)
    finally:
        worker.aiosmtplib.send = original
    return [live.MAIL, live.account(w.client, live.INVITES)]


async def _email_delivered(w):
    from app.core import clock
    from app.schema.mail import OutboundEmail

    await _deliver(w, fails=True)  # the invitation's email fails once, then goes
    await OutboundEmail.update({OutboundEmail.next_attempt_at: clock.now()}).where(
        OutboundEmail.status == "queued"
    )
    return await _deliver(w, fails=False)


async def _email_failed(w):
    return await _deliver(w, fails=True)


async def _email_retried(w):
    from app.domain.mail.services import retry
    from app.schema.mail import OutboundEmail

    row = await OutboundEmail.select(OutboundEmail.id).first()
    await OutboundEmail.update({OutboundEmail.status: "failed"}).where(
        OutboundEmail.id == row["id"]
    )
    await retry(row["id"], actor=ADMIN)
    return [live.MAIL]


# Kinds no page shows (webhooks offer them all).


async def _invite_expired(w):
    """The open invitation's 7 days run out: the expiry watcher's next look tells it."""
    from app.domain.invitations import services as invitations

    w.pass_time(timedelta(days=8))
    assert await invitations.announce_expired() == 1
    return []


async def _user_created(w):
    await make_user(first="Newt", email=unique_email("newt"))
    return []


async def _user_deleted(w):
    from app.domain.users import services as users

    leaving = await make_user(first="Lee", email=unique_email("lee"))
    await users.delete_user(leaving["id"], actor=ADMIN)
    return []


async def _user_password_changed(w):
    from app.domain.users import services as users

    password = "another-horse-battery-31"
    w.secrets.append(password)
    await users.set_password(w.member["id"], password, actor=user_actor(w.member))
    return []


async def _password_reset_requested(w):
    from app.core.config import get_settings
    from app.domain.auth import services as auth

    await auth.send_password_reset(w.member["id"], base_url=get_settings().base_url, actor=ADMIN)
    return []


async def _verification_sent(w):
    from app.domain.verification import services as verification

    await verification.resend(w.member["id"], actor=ADMIN, ip="203.0.113.7")
    return []


async def _email_change_notified(w):
    from app.domain.users import services as users

    await users.change_email(w.member["id"], unique_email("moved"), actor=user_actor(w.member))
    return []


async def _sessions_ended(w):
    from app.domain.active_sessions import services as active
    from app.domain.auth.services import start_session

    session = await start_session(user_id=w.member["id"], ip="203.0.113.7", user_agent=BROWSER)
    w.secrets.append(session)
    assert await active.end_all_sessions(w.member["id"], actor=ADMIN) == 1
    return []


async def _sign_in_alerts_changed(w):
    from app.domain.active_sessions import services as active

    changed = await active.set_sign_in_alerts(
        False, actor=user_actor(w.member), user_id=w.member["id"]
    )
    assert changed
    return []


async def _new_browser_sign_in(w):
    from app.domain.active_sessions import services as active

    for _ in range(2):  # a first browser, then another one: new to them
        token = await active.note_sign_in(
            user_id=w.member["id"], ip="203.0.113.7", user_agent=BROWSER, browser_token=None
        )
        w.secrets.append(token)
    return []


async def _new_staff(w, name: str = "Stan") -> int:
    from app.domain.staff.services import create_admin

    return await create_admin(
        email=unique_email(name.lower()),
        password=STAFF_PASSWORD,
        name=name,
        role="full",
        actor=ADMIN,
    )


async def _staff_created(w):
    await _new_staff(w)
    return []


async def _setting_changed(w):
    from app.domain.staff import services as staff

    await staff.set_setting(staff.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    return []


# Presets are changed by staff who manage users (checked in the service): the system here.
async def _new_preset() -> int:
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    return (await presets.create_preset("Reseller", ["domains", "orders"], actor=SYSTEM))["id"]


async def _preset_created(w):
    await _new_preset()
    return []


async def _preset_updated(w):
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    await presets.update_preset(
        await _new_preset(), name="Reseller desk", keys=["domains"], actor=SYSTEM
    )
    return []


async def _preset_deleted(w):
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    await presets.delete_preset(await _new_preset(), actor=SYSTEM)
    return []


async def _new_credential(w) -> int:
    from app.domain.credentials.services import create_credential

    made = await create_credential(await _new_staff(w), description="CRM sync", actor=ADMIN)
    w.secrets.append(made.secret)
    return made.id


async def _credential_created(w):
    await _new_credential(w)
    return []


async def _credential_revoked(w):
    from app.domain.credentials.services import revoke_credential

    await revoke_credential(await _new_credential(w), actor=ADMIN)
    return []


async def _two_factor_on(w, staff: bool = False):
    """The member's two-factor authentication turned on (a staff member's, `staff`): the person
    and the actor they are."""
    from app.domain.activity.services import Actor
    from app.domain.two_factor import services as two_factor

    if staff:
        staff_id = await _new_staff(w, "Tess")
        person, actor = two_factor.Person("admin", staff_id), Actor("admin", staff_id, "Tess")
    else:
        person, actor = two_factor.Person("user", w.member["id"]), user_actor(w.member)
    secret = await two_factor.begin_enrolment(person)
    now = two_factor.code_at(secret, two_factor.time_step())
    w.secrets += [secret, *await two_factor.confirm_enrolment(person, now, actor=actor)]
    return person, actor


async def _two_factor_enabled(w):
    await _two_factor_on(w)
    return []


async def _two_factor_disabled(w):
    from app.domain.two_factor import services as two_factor

    person, actor = await _two_factor_on(w)
    await two_factor.disable(person, PASSWORD, actor=actor)
    return []


async def _recovery_codes_replaced(w):
    """A staff member's, for the kinds that are a user's or a staff member's."""
    from app.domain.two_factor import services as two_factor

    person, actor = await _two_factor_on(w, staff=True)
    w.secrets += await two_factor.regenerate_recovery_codes(person, STAFF_PASSWORD, actor=actor)
    return []


async def _passkey_on(w, staff: bool = False):
    """A passkey registered for the member (a staff member's, `staff`) with the tests' software
    authenticator: the person, the actor they are, the authenticator and the passkey's row."""
    from app.domain.activity.services import Actor
    from app.domain.passkeys import services as passkeys
    from app.domain.two_factor import services as two_factor
    from tests.soft_authenticator import SoftAuthenticator

    if staff:
        staff_id = await _new_staff(w, "Pat")
        person, actor = two_factor.Person("admin", staff_id), Actor("admin", staff_id, "Pat")
    else:
        person, actor = two_factor.Person("user", w.member["id"]), user_actor(w.member)
    authenticator = SoftAuthenticator()
    options = await passkeys.registration_options(person, "doer-session")
    row = await passkeys.register(
        person, "doer-session", authenticator.create(options), "Laptop", actor=actor
    )
    return person, actor, authenticator, row


async def _passkey_added(w):
    await _passkey_on(w)
    return []


async def _passkey_removed(w):
    from app.domain.passkeys import services as passkeys

    person, actor, _authenticator, row = await _passkey_on(w)
    await passkeys.remove(person, row["id"], PASSWORD, actor=actor)
    return []


async def _passkey_clone_suspected(w):
    """A staff member's passkey used once, then answering with the same counter again."""
    from app.core.errors import DomainError
    from app.domain.passkeys import services as passkeys

    _person, _actor, authenticator, _row = await _passkey_on(w, staff=True)
    options = await passkeys.sign_in_options("doer-login")
    await passkeys.check_assertion("doer-login", authenticator.get(options), ip="203.0.113.9")
    options = await passkeys.sign_in_options("doer-login")
    try:
        await passkeys.check_assertion(
            "doer-login", authenticator.get(options, sign_count=1), ip="203.0.113.9"
        )
    except DomainError:
        return []
    raise AssertionError("a counter that did not go up was accepted")


async def _sso_link(w):
    from app.domain.sso import services as sso

    link = await sso.create_link(
        w.member["id"], client_id=w.client, base_url="http://roster.test", actor=ADMIN
    )
    w.secrets.append(link.token)
    return link


async def _sso_token_created(w):
    await _sso_link(w)
    return []


async def _sso_token_used(w):
    from app.domain.sso import services as sso

    link = await _sso_link(w)
    await sso.redeem(link.token, ip="203.0.113.9")
    return []


# Ownership transfers started by the owner.


def _transfer_news(w):
    return [live.account(w.client, live.PEOPLE)]


async def _transfer_started(w, *, approval: bool = False):
    from app.domain.access import transfers
    from app.domain.staff import services as admin_settings

    if approval:
        await admin_settings.set_setting(
            admin_settings.REQUIRE_TRANSFER_APPROVAL, "true", actor=ADMIN
        )
    transfer_id, token = await transfers.start(
        w.client, w.member["id"], ["tickets"], actor=user_actor(w.owner)
    )
    w.secrets.append(token)
    return transfer_id


async def _ownership_transfer_started(w):
    await _transfer_started(w)
    return _transfer_news(w)


async def _ownership_transfer_accepted(w):
    from app.domain.access import transfers

    transfer_id = await _transfer_started(w)
    assert await transfers.accept(transfer_id, actor=user_actor(w.member)) == "completed"
    return [live.account(w.client, *catalog.EVERY_REGION), live.CLIENTS]


async def _ownership_transfer_approved(w):
    from app.domain.access import transfers

    transfer_id = await _transfer_started(w, approval=True)
    await transfers.accept(transfer_id, actor=user_actor(w.member))
    assert await transfers.decide(transfer_id, True, actor=ADMIN) == "completed"
    return [live.account(w.client, *catalog.EVERY_REGION), live.CLIENTS]


async def _ownership_transfer_rejected(w):
    from app.domain.access import transfers

    transfer_id = await _transfer_started(w, approval=True)
    await transfers.accept(transfer_id, actor=user_actor(w.member))
    assert await transfers.decide(transfer_id, False, actor=ADMIN) == "rejected"
    return _transfer_news(w)


async def _ownership_transfer_cancelled(w):
    from app.domain.access import transfers

    transfer_id = await _transfer_started(w)
    await transfers.cancel(transfer_id, actor=user_actor(w.member))
    return _transfer_news(w)


async def _ownership_transfer_expired(w):
    from app.domain.access import transfers

    await _transfer_started(w)
    w.pass_time(timedelta(days=8))
    assert await transfers.expire_due() == 1
    return _transfer_news(w)


async def _ownership_transfer_voided(w):
    from app.domain.access.services import revoke_access

    await _transfer_started(w)
    await revoke_access(w.client, w.member["id"], actor=ADMIN)
    return _transfer_news(w)


# The kind, and how to make one happen: every kind a page shows or a webhook offers.
DOERS = {
    catalog.GrantCreated: _grant_created,
    catalog.GrantUpdated: _grant_updated,
    catalog.GrantDeleted: _grant_deleted,
    catalog.GrantAccessUntilChanged: _grant_access_until_changed,
    catalog.GrantExpired: _grant_expired,
    catalog.AccountEntered: _account_entered,
    catalog.InviteSent: _invite_sent,
    catalog.InviteResent: _invite_resent,
    catalog.InviteCancelled: _invite_cancelled,
    catalog.InviteExpired: _invite_expired,
    catalog.InviteAccepted: _invite_accepted,
    catalog.InviteRenewalRequested: _invite_renewal_requested,
    catalog.InviteLinkCopied: _invite_link_copied,
    catalog.InviteAccessUntilChanged: _invite_access_until_changed,
    catalog.ClientCreated: _client_created,
    catalog.ClientUpdated: _client_updated,
    catalog.ClientStatusChanged: _client_status_changed,
    catalog.OwnerChanged: _owner_changed,
    catalog.ClientDeleted: _client_deleted,
    catalog.OwnershipTransferStarted: _ownership_transfer_started,
    catalog.OwnershipTransferAccepted: _ownership_transfer_accepted,
    catalog.OwnershipTransferApproved: _ownership_transfer_approved,
    catalog.OwnershipTransferRejected: _ownership_transfer_rejected,
    catalog.OwnershipTransferCancelled: _ownership_transfer_cancelled,
    catalog.OwnershipTransferExpired: _ownership_transfer_expired,
    catalog.OwnershipTransferVoided: _ownership_transfer_voided,
    catalog.UserCreated: _user_created,
    catalog.UserUpdated: _user_updated,
    catalog.UserDeleted: _user_deleted,
    catalog.UserSignedIn: _user_signed_in,
    catalog.UserEmailVerified: _user_email_verified,
    catalog.UserPasswordChanged: _user_password_changed,
    catalog.PasswordResetRequested: _password_reset_requested,
    catalog.VerificationSent: _verification_sent,
    catalog.EmailChangeNotified: _email_change_notified,
    catalog.SessionsEnded: _sessions_ended,
    catalog.SignInAlertsChanged: _sign_in_alerts_changed,
    catalog.NewBrowserSignIn: _new_browser_sign_in,
    catalog.StaffCreated: _staff_created,
    catalog.SettingChanged: _setting_changed,
    catalog.PresetCreated: _preset_created,
    catalog.PresetUpdated: _preset_updated,
    catalog.PresetDeleted: _preset_deleted,
    catalog.CredentialCreated: _credential_created,
    catalog.CredentialRevoked: _credential_revoked,
    catalog.EmailQueued: _email_queued,
    catalog.EmailRetried: _email_retried,
    catalog.EmailDelivered: _email_delivered,
    catalog.EmailFailed: _email_failed,
    catalog.TwoFactorEnabled: _two_factor_enabled,
    catalog.TwoFactorDisabled: _two_factor_disabled,
    catalog.RecoveryCodesReplaced: _recovery_codes_replaced,
    catalog.PasskeyAdded: _passkey_added,
    catalog.PasskeyRemoved: _passkey_removed,
    catalog.PasskeyCloneSuspected: _passkey_clone_suspected,
    catalog.SsoTokenCreated: _sso_token_created,
    catalog.SsoTokenUsed: _sso_token_used,
}
