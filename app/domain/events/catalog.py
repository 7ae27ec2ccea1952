"""Every kind of change Roster makes, as a typed event: a stable name and version, and the
payload a consumer outside this process may rely on (ids and the values that changed, never a
secret). Services emit them inside the change's transaction (app.domain.events.stream.emit).

What each consumer takes from an event is declared here, beside it:
- ACTION: the activity log's name for it (None: the log does not record it). The names predate
  the events and stay as stored;
- SHOWS: what of its account's pages show it (live.PEOPLE, live.INVITES, live.ACCOUNT);
- IN_EVERY_ACCOUNT: it is about a person, shown by the pages of every account they reach;
- LISTED: the clients list shows it; OWNER_LISTED: it shows it when the person owns an account
  (the list names each account's owner); OUTBOX: the outbox shows it;
- WEBHOOK: it is sent to the webhook endpoints that take it (not the endpoints' own management:
  an endpoint taking every event would hear of each test and resend made for it).
A page that shows a kind of change is told of it live (tests hold each kind)."""

from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from app.domain.live.broker import ACCOUNT, INVITES, PEOPLE

EVERY_REGION = (PEOPLE, INVITES, ACCOUNT)


# A moment, always with its offset (UTC): documented as an RFC 3339 date-time.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    ACTION: ClassVar[str | None] = None
    SHOWS: ClassVar[tuple[str, ...]] = ()
    IN_EVERY_ACCOUNT: ClassVar[bool] = False
    LISTED: ClassVar[bool] = False
    OWNER_LISTED: ClassVar[bool] = False
    OUTBOX: ClassVar[bool] = False
    WEBHOOK: ClassVar[bool] = True

    def activity_action(self) -> str | None:
        return self.ACTION

    @property
    def account(self) -> int | None:
        """The account the event is about, if any."""
        return getattr(self, "client_id", None)

    @property
    def person(self) -> int | None:
        """The user the event is about, if any."""
        return getattr(self, "user_id", None)


# An account's people and what they may do.


class GrantCreated(Event, frozen=True):
    """A user was given access to an account; `invitation_id`: by accepting that invitation
    (whose own event, invite.accepted, is the activity log's entry for it)."""

    NAME = "grant.created"
    ACTION = "access.granted"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int
    permissions: tuple[str, ...]
    invitation_id: int | None = None

    def activity_action(self) -> str | None:
        return None if self.invitation_id is not None else self.ACTION


class GrantUpdated(Event, frozen=True):
    """A user's permissions on an account changed."""

    NAME = "grant.updated"
    ACTION = "access.permissions_changed"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int
    permissions_before: tuple[str, ...]
    permissions: tuple[str, ...]


class GrantDeleted(Event, frozen=True):
    """A user's access to an account was removed (the user stays)."""

    NAME = "grant.deleted"
    ACTION = "access.revoked"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int
    permissions_before: tuple[str, ...]


class GrantAccessUntilChanged(Event, frozen=True):
    """When a user's access to an account ends by itself was set, changed or cleared
    (`access_until` None: it no longer ends)."""

    NAME = "grant.access_until_changed"
    ACTION = "access.until_changed"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int
    access_until_before: Instant | None
    access_until: Instant | None


class GrantExpired(Event, frozen=True):
    """A user's access to an account reached its Access until and was removed by the sweeper
    (once, whichever process swept it); the user stays."""

    NAME = "grant.expired"
    ACTION = "access.expired"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int
    permissions_before: tuple[str, ...]
    access_until: Instant


class AccountEntered(Event, frozen=True):
    """A user chose an account to work in (its Users tab shows their last login there)."""

    NAME = "account.entered"
    SHOWS = (PEOPLE,)
    client_id: int
    user_id: int


# Invitations.

INVITE_REGIONS = (INVITES, PEOPLE)  # the pending list, and the people an accepted one adds


class InviteSent(Event, frozen=True):
    NAME = "invite.sent"
    ACTION = "invite.sent"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    email: str
    permissions: tuple[str, ...]
    user_id: int | None = None  # the invited address's user, when there is one


class InviteResent(Event, frozen=True):
    """A fresh link was sent: the old one stopped working, the 7 days start again."""

    NAME = "invite.resent"
    ACTION = "invite.resent"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    email: str
    expires_at: Instant


class InviteCancelled(Event, frozen=True):
    NAME = "invite.cancelled"
    ACTION = "invite.cancelled"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    email: str


class InviteLinkCopied(Event, frozen=True):
    """The sender copied an invitation's link from the confirmation of Send or Resend (the only
    answer that holds it in clear); the link itself is never carried."""

    NAME = "invite.link_copied"
    ACTION = "invite.link_copied"
    client_id: int
    invitation_id: int
    email: str


class InviteAccessUntilChanged(Event, frozen=True):
    """A pending invitation's Access until (when the access it gives ends) was set, changed or
    cleared (`access_until` None: no end), before it was accepted."""

    NAME = "invite.access_until_changed"
    ACTION = "invite.until_changed"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    email: str
    access_until_before: Instant | None
    access_until: Instant | None


class InviteRenewalRequested(Event, frozen=True):
    """The holder of an expired or cancelled invitation's link asked for a new one: the sender
    (or the account's owner, when the sender can no longer invite) was emailed, and the lists
    show the request beside the invite until it is resent. `notified`: "inviter", "owner", or
    "staff" (nobody emailed: client user management is off, staff see it on the Users tab)."""

    NAME = "invite.renewal_requested"
    ACTION = "invite.renewal_requested"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    email: str
    notified: str


class InviteExpired(Event, frozen=True):
    """An invitation's 7 days ran out before it was accepted (told once per expiry: a resend
    gives it a new one). Its account's pages learn of it from their own look at the time
    (app.domain.invitations.expiry), so it sends no news of its own."""

    NAME = "invite.expired"
    client_id: int
    invitation_id: int
    email: str
    expired_at: Instant


class InviteAccepted(Event, frozen=True):
    """An invitation was accepted: the user now has access with its permissions."""

    NAME = "invite.accepted"
    ACTION = "invite.accepted"
    SHOWS = INVITE_REGIONS
    client_id: int
    invitation_id: int
    user_id: int
    permissions: tuple[str, ...]


# Client accounts.


class ClientCreated(Event, frozen=True):
    NAME = "client.created"
    ACTION = "client.created"
    SHOWS = EVERY_REGION
    LISTED = True
    client_id: int
    user_id: int  # the owner


class ClientUpdated(Event, frozen=True):
    """The account's details changed (`fields`: which)."""

    NAME = "client.updated"
    ACTION = "client.updated"
    SHOWS = EVERY_REGION
    LISTED = True
    client_id: int
    fields: tuple[str, ...]


class ClientStatusChanged(Event, frozen=True):
    """Active, Inactive or Closed; closing cancels the account's pending invitations."""

    NAME = "client.status_changed"
    ACTION = "client.status_changed"
    SHOWS = EVERY_REGION
    LISTED = True
    client_id: int
    status_before: str
    status: str


class OwnerChanged(Event, frozen=True):
    NAME = "client.owner_changed"
    ACTION = "client.owner_changed"
    SHOWS = EVERY_REGION
    LISTED = True
    client_id: int
    user_id: int  # the new owner
    owner_before: int


# Ownership transfers started by the owner (staff's Make Owner is client.owner_changed alone; a
# completed transfer is told as client.owner_changed too).


class _Transfer(Event, frozen=True):
    SHOWS = (PEOPLE,)  # User Management and the Users tab show the open transfer
    client_id: int
    transfer_id: int
    user_id: int  # the user chosen to own the account
    owner_id: int  # the owner who started it


class OwnershipTransferStarted(_Transfer, frozen=True):
    """The owner chose a user to hand the account to; they were emailed a link to confirm.
    `keep_permissions`: what the owner keeps once it is done."""

    NAME = "client.ownership_transfer_started"
    ACTION = "client.ownership_transfer_started"
    keep_permissions: tuple[str, ...]
    expires_at: Instant


class OwnershipTransferAccepted(_Transfer, frozen=True):
    """The chosen user confirmed. `awaiting_approval`: staff must approve it first (a setting);
    otherwise the ownership moved in the same transaction (client.owner_changed)."""

    NAME = "client.ownership_transfer_accepted"
    ACTION = "client.ownership_transfer_accepted"
    awaiting_approval: bool


class OwnershipTransferApproved(_Transfer, frozen=True):
    """Staff approved a confirmed transfer: the ownership moved (client.owner_changed)."""

    NAME = "client.ownership_transfer_approved"
    ACTION = "client.ownership_transfer_approved"


class OwnershipTransferRejected(_Transfer, frozen=True):
    NAME = "client.ownership_transfer_rejected"
    ACTION = "client.ownership_transfer_rejected"


class OwnershipTransferCancelled(_Transfer, frozen=True):
    """Cancelled by the owner or by the chosen user (`by`: owner | user)."""

    NAME = "client.ownership_transfer_cancelled"
    ACTION = "client.ownership_transfer_cancelled"
    by: str


class OwnershipTransferExpired(_Transfer, frozen=True):
    """Its 7 days passed before it was done (told once, by whichever process swept it)."""

    NAME = "client.ownership_transfer_expired"
    ACTION = "client.ownership_transfer_expired"
    expired_at: Instant


class OwnershipTransferVoided(_Transfer, frozen=True):
    """What it was made for changed meanwhile (`reason`: owner_changed | removed | closed)."""

    NAME = "client.ownership_transfer_voided"
    ACTION = "client.ownership_transfer_voided"
    reason: str


class ClientDeleted(Event, frozen=True):
    NAME = "client.deleted"
    ACTION = "client.deleted"
    SHOWS = EVERY_REGION
    LISTED = True
    client_id: int


# People.


class UserCreated(Event, frozen=True):
    NAME = "user.created"
    ACTION = "user.created"
    user_id: int
    # The account they were created for, if any: its pages show them once they have access
    # (grant.created, invite.accepted, client.created say so).
    client_id: int | None = None


class UserUpdated(Event, frozen=True):
    """Name, email or language changed (`fields`: which)."""

    NAME = "user.updated"
    ACTION = "user.updated"
    IN_EVERY_ACCOUNT = True
    OWNER_LISTED = True
    user_id: int
    fields: tuple[str, ...]


class UserDeleted(Event, frozen=True):
    NAME = "user.deleted"
    ACTION = "user.deleted"
    user_id: int
    client_id: int | None = None  # deleted with this account, their only one


class UserSignedIn(Event, frozen=True):
    """A user signed in (the Users tab shows the last login, its address and host)."""

    NAME = "user.signed_in"
    IN_EVERY_ACCOUNT = True
    user_id: int


class SsoTokenCreated(Event, frozen=True):
    """A single sign-on link was made for a user (WHMCS's CreateSsoToken): it signs them in once,
    within a minute, into `client_id` when one was named, and lands on `destination` (a path;
    "" for the client area's home). Never the link itself."""

    NAME = "sso_token.created"
    ACTION = "sso.token_created"
    user_id: int
    client_id: int | None
    destination: str
    expires_at: Instant


class SsoTokenUsed(Event, frozen=True):
    """A single sign-on link was used: the user signs in (after their Authentication Code, when
    they have two-factor authentication; user.signed_in follows once they have)."""

    NAME = "sso_token.used"
    ACTION = "sso.token_used"
    user_id: int
    client_id: int | None


class UserEmailVerified(Event, frozen=True):
    NAME = "user.email_verified"
    ACTION = "user.email_verified"
    IN_EVERY_ACCOUNT = True
    user_id: int


class UserPasswordChanged(Event, frozen=True):
    NAME = "user.password_changed"
    ACTION = "user.password_changed"
    user_id: int


class PasswordResetRequested(Event, frozen=True):
    NAME = "user.password_reset_requested"
    ACTION = "user.password_reset_requested"
    user_id: int


class VerificationSent(Event, frozen=True):
    NAME = "user.verification_sent"
    ACTION = "user.verification_sent"
    user_id: int


class EmailChangeNotified(Event, frozen=True):
    """The previous address was told that the email address changed."""

    NAME = "user.email_change_notified"
    ACTION = "user.email_change_notified"
    user_id: int


# Two-factor authentication and sessions, of a user (user_id) or a staff member (staff_id).


class _PersonEvent(Event, frozen=True):
    user_id: int | None = None
    staff_id: int | None = None

    def activity_action(self) -> str | None:
        return f"{'user' if self.user_id is not None else 'admin'}.{self.ACTION}"


class TwoFactorEnabled(_PersonEvent, frozen=True):
    NAME = "two_factor.enabled"
    ACTION = "two_factor_enabled"


class TwoFactorDisabled(_PersonEvent, frozen=True):
    NAME = "two_factor.disabled"
    ACTION = "two_factor_disabled"


class RecoveryCodesReplaced(_PersonEvent, frozen=True):
    NAME = "two_factor.recovery_codes_replaced"
    ACTION = "two_factor_recovery_codes"


class PasskeyAdded(_PersonEvent, frozen=True, kw_only=True):
    """A passkey was registered (`passkey_id`, its `name`)."""

    NAME = "passkey.added"
    ACTION = "passkey_added"
    passkey_id: int
    name: str


class PasskeyRemoved(_PersonEvent, frozen=True, kw_only=True):
    """A passkey was removed, by its owner or by staff (`by_staff`)."""

    NAME = "passkey.removed"
    ACTION = "passkey_removed"
    passkey_id: int
    name: str
    by_staff: bool = False


class PasskeyCloneSuspected(_PersonEvent, frozen=True, kw_only=True):
    """A passkey answered with a signature counter that did not go up (`sign_count` seen, after
    `sign_count_before`): it may have been copied. The sign-in was refused."""

    NAME = "passkey.clone_suspected"
    ACTION = "passkey_clone_suspected"
    passkey_id: int
    sign_count_before: int
    sign_count: int


class SessionsEnded(Event, frozen=True):
    """Sessions were signed out: one (`which`: "one"), all but the current ("others"), or all
    of a person's, by staff ("all")."""

    NAME = "sessions.ended"
    which: str
    count: int
    user_id: int | None = None

    def activity_action(self) -> str | None:
        return {"one": "session.ended", "others": "session.ended_others"}.get(
            self.which, "session.ended_all"
        )


class SignInAlertsChanged(Event, frozen=True):
    NAME = "sessions.alerts_changed"
    ACTION = "session.alerts_changed"
    on: bool
    user_id: int | None = None


class NewBrowserSignIn(Event, frozen=True):
    NAME = "sessions.new_browser"
    ACTION = "session.new_browser"
    emailed: bool
    user_id: int | None = None


# Staff, settings, API credentials.


class StaffCreated(Event, frozen=True):
    NAME = "staff.created"
    ACTION = "admin.created"
    staff_id: int
    role: str


class SettingChanged(Event, frozen=True):
    NAME = "settings.changed"
    ACTION = "settings.changed"
    key: str
    value_before: str
    value: str


class PresetCreated(Event, frozen=True):
    """Staff made a permission preset (a named set of keys offered by the permissions forms)."""

    NAME = "preset.created"
    ACTION = "preset.created"
    preset_id: int
    name: str
    permissions: tuple[str, ...]


class PresetUpdated(Event, frozen=True):
    """A staff-made preset renamed or given other keys; no grant changes with it."""

    NAME = "preset.updated"
    ACTION = "preset.updated"
    preset_id: int
    name_before: str
    name: str
    permissions_before: tuple[str, ...]
    permissions: tuple[str, ...]


class PresetDeleted(Event, frozen=True):
    """A staff-made preset removed; no grant changes with it."""

    NAME = "preset.deleted"
    ACTION = "preset.deleted"
    preset_id: int
    name: str


class CredentialCreated(Event, frozen=True):
    NAME = "credential.created"
    ACTION = "api.credential_created"
    credential_id: int
    staff_id: int


class CredentialRevoked(Event, frozen=True):
    NAME = "credential.revoked"
    ACTION = "api.credential_revoked"
    credential_id: int


# The outbox.


class EmailQueued(Event, frozen=True):
    NAME = "email.queued"
    OUTBOX = True
    email_id: int
    template: str


class EmailRetried(Event, frozen=True):
    NAME = "email.retried"
    ACTION = "mail.retried"
    OUTBOX = True
    email_id: int


class EmailDelivered(Event, frozen=True):
    NAME = "email.delivered"
    OUTBOX = True
    SHOWS = (INVITES,)  # a pending invite no longer shows "delivery failed, retrying"
    email_id: int
    client_id: int | None = None  # the account of the invitation it carried, if any


class EmailFailed(Event, frozen=True):
    """A delivery attempt failed (`retrying`: another comes; else it gave up)."""

    NAME = "email.failed"
    OUTBOX = True
    SHOWS = (INVITES,)
    email_id: int
    retrying: bool
    client_id: int | None = None


# Webhook endpoints (never their secret, nor their URL, which may carry a token).


class WebhookEndpointCreated(Event, frozen=True):
    NAME = "webhook_endpoint.created"
    WEBHOOK = False
    ACTION = "webhook.endpoint_created"
    endpoint_id: int
    event_types: tuple[str, ...]  # ("*",): every type offered
    enabled: bool


class WebhookEndpointUpdated(Event, frozen=True):
    """Its URL, description, event types or whether it is enabled changed (`fields`: which)."""

    NAME = "webhook_endpoint.updated"
    WEBHOOK = False
    ACTION = "webhook.endpoint_updated"
    endpoint_id: int
    fields: tuple[str, ...]


class WebhookSecretRotated(Event, frozen=True):
    """A new signing secret; the previous one still signs until `previous_valid_until`."""

    NAME = "webhook_endpoint.secret_rotated"
    WEBHOOK = False
    ACTION = "webhook.secret_rotated"
    endpoint_id: int
    previous_valid_until: Instant


class WebhookEndpointDeleted(Event, frozen=True):
    NAME = "webhook_endpoint.deleted"
    WEBHOOK = False
    ACTION = "webhook.endpoint_deleted"
    endpoint_id: int


class WebhookEndpointDisabled(Event, frozen=True):
    """Roster stopped sending to it: its deliveries had failed for days (`reason` says)."""

    NAME = "webhook_endpoint.disabled"
    WEBHOOK = False
    ACTION = "webhook.endpoint_disabled"
    endpoint_id: int
    reason: str


class WebhookMessagesRequeued(Event, frozen=True):
    """Messages queued again for an endpoint, each with its webhook-id (`why`: "test" for a
    test event, "resend" for one delivery, "replay" for every one since a moment)."""

    NAME = "webhook_endpoint.requeued"
    WEBHOOK = False
    ACTION = "webhook.requeued"
    endpoint_id: int
    why: str
    count: int


# Sign in with Roster (OpenID Connect): the apps staff register and what people let them see.
# None is sent to webhooks: they are no membership change.


class OAuthAppCreated(Event, frozen=True):
    NAME = "oauth_app.created"
    WEBHOOK = False
    ACTION = "oauth.app_created"
    app_id: int
    app_client_id: str  # the app's public id (`client_id` names an account here)
    confidential: bool
    first_party: bool


class OAuthAppUpdated(Event, frozen=True):
    """Its name, redirect URIs, scopes, algorithm, kind or whether it is enabled changed
    (`fields`: which)."""

    NAME = "oauth_app.updated"
    WEBHOOK = False
    ACTION = "oauth.app_updated"
    app_id: int
    fields: tuple[str, ...]


class OAuthAppSecretRotated(Event, frozen=True):
    """A new client secret; the previous one stopped working at once."""

    NAME = "oauth_app.secret_rotated"
    WEBHOOK = False
    ACTION = "oauth.app_secret_rotated"
    app_id: int


class OAuthAppDeleted(Event, frozen=True):
    """Deleted with every code, token and consent of it."""

    NAME = "oauth_app.deleted"
    WEBHOOK = False
    ACTION = "oauth.app_deleted"
    app_id: int


class OAuthSigningKeyAdded(Event, frozen=True):
    """A new key for ID tokens: published now, signing from `activates_at`."""

    NAME = "oauth_signing_key.added"
    WEBHOOK = False
    ACTION = "oauth.signing_key_added"
    kid: str
    alg: str
    activates_at: Instant


class OAuthConsentGiven(Event, frozen=True):
    NAME = "oauth_consent.given"
    WEBHOOK = False
    ACTION = "oauth.consent_given"
    user_id: int
    app_id: int
    scope: str


class OAuthConsentRevoked(Event, frozen=True):
    """A user took back what they let an app see; its tokens for them stopped working."""

    NAME = "oauth_consent.revoked"
    WEBHOOK = False
    ACTION = "oauth.consent_revoked"
    user_id: int
    app_id: int


class OAuthSignedIn(Event, frozen=True):
    """An app was given tokens for a user (from an authorization code)."""

    NAME = "oauth.signed_in"
    WEBHOOK = False
    ACTION = "oauth.signed_in"
    user_id: int
    app_id: int
    scope: str


class OAuthRefreshReused(Event, frozen=True):
    """A refresh token already replaced (or a code already used) was presented again: every
    token of its family was revoked."""

    NAME = "oauth.token_reuse"
    WEBHOOK = False
    ACTION = "oauth.token_reuse_detected"
    user_id: int
    app_id: int
    what: str  # refresh_token | code


def all_events() -> list[type[Event]]:
    """Every kind, once."""
    found, todo = [], list(Event.__subclasses__())
    while todo:
        kind = todo.pop(0)
        todo.extend(kind.__subclasses__())
        if "NAME" in vars(kind):
            found.append(kind)
    return found
