"""The bodies of /api/v1: a msgspec Struct for every request and response. The constraints
(`msgspec.Meta`) are enforced when a body is decoded and published in the OpenAPI document."""

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from app.core import clock
from app.core.db import MAX_ID
from app.core.errors import DomainError
from app.core.i18n import _
from app.core.permissions import ALL_KEYS
from app.core.security import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, check_new_password
from app.core.validation import (
    COMPANY_MAX,
    CONTACT_LIMITS,
    EMAIL_MAX,
    NAME_MAX,
    PHONE_MAX,
    clean_access_until,
    clean_email,
    clean_name,
    clean_permissions,
)
from app.domain.clients.services import CONTACT_FIELDS, clean_contact
from app.domain.invitations import bulk
from app.domain.invitations.services import SEVERAL_MAX
from app.domain.oauth import apps as oauth_apps
from app.domain.sso.services import DESTINATION_MAX, HOME, local_path
from app.domain.users.services import LANGUAGES
from app.domain.webhook_queue.records import ALL_TYPES
from app.domain.webhooks.addresses import URL_MAX
from app.domain.webhooks.services import (
    DESCRIPTION_MAX,
    EVENT_TYPES,
    clean_description,
    clean_event_types,
)

from .problems import InvalidInput


def _example(value) -> dict:
    """An example value for the OpenAPI document (schemathesis sends it too)."""
    return {"examples": [value]}


# Printable text: no control characters (NUL included), as app.core.validation refuses them.
_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="A positive id.")]
Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=NAME_MAX, pattern=_PRINTABLE, extra_json_schema=_example("Ana")
    ),
]
Company = Annotated[
    str,
    msgspec.Meta(
        max_length=COMPANY_MAX, pattern=_PRINTABLE, extra_json_schema=_example("Api Hosting")
    ),
]
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=EMAIL_MAX,
        pattern=r"^[^@\s\x00-\x1f]+@[^@\s]+$",
        extra_json_schema=_example("ana.api@example.com"),
    ),
]
Password = Annotated[
    str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]


def _contact_meta(field: str) -> msgspec.Meta:
    return msgspec.Meta(max_length=CONTACT_LIMITS[field], pattern=_PRINTABLE)


Country = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([A-Z]{2})?$",
        description="ISO 3166-1 alpha-2, or empty.",
        extra_json_schema=_example("DE"),
    ),
]
Phone = Annotated[str, msgspec.Meta(max_length=PHONE_MAX, pattern=r"^[0-9 +\-().]*$")]
# The checker reads no Literal built at run time: for it, a key or a language is a str; msgspec
# and the OpenAPI document get the values.
if TYPE_CHECKING:
    PermissionKey = str
    Language = str
else:
    PermissionKey = Literal[ALL_KEYS]
    Language = Literal[LANGUAGES]
PermissionKeys = Annotated[
    list[PermissionKey],
    msgspec.Meta(
        min_length=1,
        max_length=len(ALL_KEYS) * 2,
        description="Permission keys.",
        extra_json_schema=_example(["invoices", "tickets"]),
    ),
]
ClientStatus = Literal["Active", "Inactive", "Closed"]


@contextlib.contextmanager
def checked_input():
    """Runs the services' own value checks before any change: what they refuse is invalid input
    (422), told apart from a service refusing a change for the state things are in (409)."""
    try:
        yield
    except InvalidInput:
        raise
    except DomainError as exc:
        raise InvalidInput(exc.message, exc.field) from exc


# ---- lists -------------------------------------------------------------------------------


class Permission(msgspec.Struct):
    key: str
    label: str
    description: str


class PermissionList(msgspec.Struct):
    items: list[Permission]
    total: int


class Preset(msgspec.Struct):
    """A named set of permission keys, offered beside all and choose: `shipped` ones (Billing
    contact, Technical contact, Full access) are fixed; staff make their own at
    /admin/settings."""

    id: str
    name: str
    permissions: list[str]
    shipped: bool


class PresetList(msgspec.Struct):
    items: list[Preset]
    total: int


# ---- clients -------------------------------------------------------------------------------


class Contact(msgspec.Struct, kw_only=True):
    """The account's contact details (WHMCS keeps them on the client)."""

    address1: Annotated[str, _contact_meta("address1")] | None = None
    address2: Annotated[str, _contact_meta("address2")] | None = None
    city: Annotated[str, _contact_meta("city")] | None = None
    state: Annotated[str, _contact_meta("state")] | None = None
    postcode: Annotated[str, _contact_meta("postcode")] | None = None
    country: Country | None = None
    phone_number: Phone | None = None
    tax_id: Annotated[str, _contact_meta("tax_id")] | None = None

    def contact(self) -> dict[str, str] | None:
        """The contact fields sent (None: unchanged), or None when none was."""
        sent = {f: getattr(self, f) for f in CONTACT_FIELDS if getattr(self, f) is not None}
        return sent or None

    def check_contact(self) -> None:
        with checked_input():
            clean_contact(self.contact() or {})


class ClientCreate(Contact, kw_only=True):
    """A new account. Its owner is `owner_user_id`, an existing user, or else a new user made
    from the owner fields (an email that already has a user is refused: 409)."""

    owner_email: Email
    owner_first_name: Name
    owner_last_name: Name
    owner_password: Password | None = None
    owner_user_id: Id | None = None
    company_name: Company = ""

    def check(self) -> None:
        self.check_contact()
        with checked_input():
            first = clean_name(self.owner_first_name, "First name", "owner_first_name")
            last = clean_name(self.owner_last_name, "Last name", "owner_last_name")
            clean_name(self.company_name, "Company name", "company_name", required=False,
                       max_length=COMPANY_MAX)  # fmt: skip
            email, _key = clean_email(self.owner_email, "owner_email")
            if self.owner_password is not None and self.owner_user_id is None:
                check_password(self.owner_password, [first, last, email], "owner_password")


class ClientUpdate(Contact, kw_only=True):
    """Only the fields sent change (null or absent: unchanged)."""

    company_name: Company | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    status: ClientStatus | None = None
    # Everyone with access must use two-factor authentication (staff may set it whoever has it).
    require_two_factor: bool | None = None

    def check(self) -> None:
        self.check_contact()
        with checked_input():
            for field, label in (("first_name", "First name"), ("last_name", "Last name")):
                if getattr(self, field) is not None:
                    clean_name(getattr(self, field), label, field)
            if self.company_name is not None:
                clean_name(self.company_name, "Company name", "company_name", required=False,
                           max_length=COMPANY_MAX)  # fmt: skip
            if self.email is not None:
                clean_email(self.email, "email")


class ClientSummary(msgspec.Struct):
    id: int
    company_name: str
    first_name: str
    last_name: str
    email: str
    status: ClientStatus
    owner_id: int
    created_at: datetime


class ClientOut(ClientSummary):
    """The account with its contact details."""

    address1: str
    address2: str
    city: str
    state: str
    postcode: str
    country: str
    phone_number: str
    tax_id: str
    # Everyone with access must use two-factor authentication: a user without it who opens the
    # account in the client area is sent to set it up first.
    require_two_factor: bool


class ClientList(msgspec.Struct):
    items: list[ClientSummary]
    total: int
    offset: int
    limit: int


class ClientDeleted(msgspec.Struct):
    id: int
    deleted_user_ids: list[int]


# ---- users ---------------------------------------------------------------------------------


class UserAccount(msgspec.Struct):
    """An account the user reaches."""

    id: int
    is_owner: bool


class UserOut(msgspec.Struct):
    id: int
    first_name: str
    last_name: str
    email: str
    language: str
    created_at: datetime
    last_login_at: datetime | None
    clients: list[UserAccount]


class UserList(msgspec.Struct):
    items: list[UserOut]
    total: int
    offset: int
    limit: int


class UserCreate(msgspec.Struct, kw_only=True):
    """A new user. Without a password they cannot log in until a password reset sets one."""

    first_name: Name
    last_name: Name
    email: Email
    password: Password | None = None
    language: Language = "english"

    def check(self) -> None:
        with checked_input():
            first = clean_name(self.first_name, "First name", "first_name")
            last = clean_name(self.last_name, "Last name", "last_name")
            email, _key = clean_email(self.email)
            if self.password is not None:
                check_password(self.password, [first, last, email], "password")


class UserUpdate(msgspec.Struct, kw_only=True):
    """Only the fields sent change (null or absent: unchanged)."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    language: Language | None = None

    def check(self) -> None:
        with checked_input():
            for field, label in (("first_name", "First name"), ("last_name", "Last name")):
                if getattr(self, field) is not None:
                    clean_name(getattr(self, field), label, field)
            if self.email is not None:
                clean_email(self.email)


def check_password(password: str, inputs: list[str], field: str) -> None:
    try:
        check_new_password(password, inputs)
    except DomainError as exc:
        raise InvalidInput(exc.message, field) from exc


# ---- an account's users (grants) -------------------------------------------------------------


class Grant(msgspec.Struct):
    """A user's access to the account. The owner holds every permission. `access_until`: when
    the access ends by itself (null: never; never for the owner)."""

    user_id: int
    first_name: str
    last_name: str
    email: str
    is_owner: bool
    permissions: list[str]
    access_until: datetime | None = None


class GrantList(msgspec.Struct):
    items: list[Grant]
    total: int
    offset: int
    limit: int


# When access ends by itself: an instant (RFC 3339; without an offset, UTC) or a date (the end of
# that day in UTC); always in the future. null: no end.
AccessUntilIn = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        description="When the access ends by itself: a date-time (RFC 3339, UTC without an "
        "offset) or a date (YYYY-MM-DD: the end of that day in UTC); in the future. "
        "null: no end.",
        extra_json_schema=_example("2026-12-14T18:00:00Z"),
    ),
]


class PermissionsBody(msgspec.Struct, kw_only=True):
    """`access_until` left out: a new grant or invitation has no end, an edit keeps the end."""

    permissions: PermissionKeys
    access_until: AccessUntilIn | None | msgspec.UnsetType = msgspec.UNSET

    def check(self) -> None:
        with checked_input():
            clean_permissions(self.permissions)
            if isinstance(self.access_until, str):
                clean_access_until(self.access_until, clock.now())

    def until(self):
        """What the service is given: the end sent, or None when left out (no end)."""
        return None if self.access_until is msgspec.UNSET else self.access_until


PresetId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=40,
        description="A permission preset's id (GET /api/v1/presets): the grant or invitation is "
        "given the preset's keys as they are now, and keeps them if the preset later changes.",
        extra_json_schema=_example("billing-contact"),
    ),
]


class AccessCreate(msgspec.Struct, kw_only=True):
    """What a new grant or invitation gives: `permissions`, or a `preset` (exactly one).
    `access_until` left out: no end."""

    permissions: PermissionKeys | msgspec.UnsetType = msgspec.UNSET
    preset: PresetId | msgspec.UnsetType = msgspec.UNSET
    access_until: AccessUntilIn | None | msgspec.UnsetType = msgspec.UNSET

    def check(self) -> None:
        with checked_input():
            given = (self.permissions is not msgspec.UNSET) + (self.preset is not msgspec.UNSET)
            if given != 1:
                raise DomainError(_("Give either permissions or a preset."), "permissions")
            if self.permissions is not msgspec.UNSET:
                clean_permissions(self.permissions)
            if isinstance(self.access_until, str):
                clean_access_until(self.access_until, clock.now())

    def until(self):
        """What the service is given: the end sent, or None when left out (no end)."""
        return None if self.access_until is msgspec.UNSET else self.access_until


class GrantCreate(AccessCreate, kw_only=True):
    """Gives an existing user access to the account at once (no invitation)."""

    user_id: Id


# ---- invitations ---------------------------------------------------------------------------


class Invitation(msgspec.Struct):
    """An open invitation (pending or expired). Its link is emailed, never returned."""

    id: int
    email: str
    permissions: list[str]
    status: Literal["pending", "expired"]
    sender_name: str
    created_at: datetime
    last_sent_at: datetime
    expires_at: datetime
    times_sent: int
    delivery_failed: bool
    access_until: datetime | None = None  # when the access it gives ends (null: never)


class InvitationList(msgspec.Struct):
    items: list[Invitation]
    total: int
    offset: int
    limit: int


class InvitationCreate(AccessCreate, kw_only=True):
    email: Email

    def check(self) -> None:
        super().check()
        with checked_input():
            clean_email(self.email)


class AccountOfInvitation(msgspec.Struct, kw_only=True):
    """One account of an invitation to several: its id, and `permissions` or a `preset`
    (exactly one) for what it gives there."""

    client_id: Id
    permissions: PermissionKeys | msgspec.UnsetType = msgspec.UNSET
    preset: PresetId | msgspec.UnsetType = msgspec.UNSET


class SeveralInvitationCreate(msgspec.Struct, kw_only=True):
    """One address invited to several accounts (at most 50) in one email that lists them; its
    one link accepts them all. All or none: every refusal is said at once (409)."""

    email: Email
    accounts: Annotated[
        list[AccountOfInvitation], msgspec.Meta(min_length=1, max_length=SEVERAL_MAX)
    ]
    access_until: AccessUntilIn | None | msgspec.UnsetType = msgspec.UNSET

    def check(self) -> None:
        with checked_input():
            clean_email(self.email)
            for account in self.accounts:
                AccessCreate(permissions=account.permissions, preset=account.preset).check()
            if isinstance(self.access_until, str):
                clean_access_until(self.access_until, clock.now())

    def until(self):
        return None if self.access_until is msgspec.UNSET else self.access_until


class AccountInvitation(msgspec.Struct):
    client_id: int
    invitation: Invitation


class SeveralInvitation(msgspec.Struct):
    """The invitations an invitation to several accounts made, one per account, in the order
    asked; each is the account's own (cancel or resend it there)."""

    email: str
    invitations: list[AccountInvitation]


class BulkInviteRowIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One row of a bulk invite. Not checked as a whole request would be: a row that cannot be
    invited (an invalid address, an unknown permission) is reported as such in the answer."""

    email: Annotated[str, msgspec.Meta(max_length=bulk.MAX_LINE)]
    first_name: Annotated[str, msgspec.Meta(max_length=bulk.MAX_LINE)] = ""
    last_name: Annotated[str, msgspec.Meta(max_length=bulk.MAX_LINE)] = ""
    permissions: (
        Annotated[
            list[Annotated[str, msgspec.Meta(max_length=40)]],
            msgspec.Meta(max_length=len(ALL_KEYS) * 2),
        ]
        | None
    ) = msgspec.field(default=None)


class BulkInviteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Many invitations at once: `rows`, or `text` (addresses one per line, or separated by
    commas or semicolons, plain or as `Name <address>`) and/or `csv` (columns email, first
    name, last name, permissions or a preset's name, optionally under a header row); at most
    500 rows in all. `permissions`, or a `preset` (its keys now): for the rows that name none.
    With `dry_run` nothing is written: the answer says what sending would do."""

    rows: Annotated[list[BulkInviteRowIn], msgspec.Meta(max_length=bulk.MAX_ROWS)] | None = None
    text: Annotated[str, msgspec.Meta(max_length=bulk.MAX_BYTES)] | None = None
    csv: Annotated[str, msgspec.Meta(max_length=bulk.MAX_BYTES)] | None = None
    permissions: PermissionKeys | None = None
    preset: PresetId | None = None
    access_until: AccessUntilIn | None = None
    resend_pending: bool = False
    dry_run: bool = False

    def entries(self) -> "list[bulk.Entry]":
        """The rows as the service takes them; what cannot be read is invalid input (422)."""
        with checked_input():
            if self.rows is not None:
                if self.text or self.csv:
                    raise InvalidInput(_("Send `rows`, or `text` and `csv`, not both."), "rows")
                if not self.rows:
                    raise InvalidInput(_("Send at least one row."), "rows")
                entries = [
                    bulk.Entry(
                        number,
                        row.email,
                        row.first_name,
                        row.last_name,
                        " ".join(row.permissions) if row.permissions else None,
                    )
                    for number, row in enumerate(self.rows, 1)
                ]
            else:
                entries = bulk.read_list(self.text or "", self.csv or "")
            if self.preset is None:
                bulk.clean_default(self.permissions, entries)
            elif self.permissions is not None:
                raise InvalidInput(_("Give either permissions or a preset, not both."), "preset")
            clean_access_until(self.access_until, clock.now())
        return entries


BulkOutcome = Literal[bulk.OUTCOMES]  # type: ignore[valid-type]


class BulkInviteRow(msgspec.Struct):
    row: int
    email: str
    name: str
    outcome: BulkOutcome
    reason: str
    permissions: list[str]
    user_id: int | None
    invitation_id: int | None  # the invitation sent or sent again, or the pending one


class BulkInviteResult(msgspec.Struct):
    """What a bulk invite does (`dry_run`) or did: each row's outcome (invite_new,
    invite_existing, resend: an email goes; has_access, pending, over_limit, duplicate, invalid:
    none, `reason` says why), their counts, and the limits that applied."""

    dry_run: bool
    sent: int
    counts: dict[str, int]
    daily_limit: int
    sent_today: int
    left_today: int
    resend_cooldown_seconds: int
    rows: list[BulkInviteRow]


# ---- single sign-on ------------------------------------------------------------------------

# A path of this site (app.domain.sso.services.local_path decides): "/", then neither "/" nor a
# backslash (a browser reads "//host" and "/\host" as another site); printable ASCII, no
# backslash anywhere.
Destination = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=DESTINATION_MAX,
        pattern=r"^/([!-.0-\[\]-~][!-\[\]-~]*)?$",
        description="A path on this site to land on once signed in (default: the client "
        "area's home, as a login chooses it).",
        extra_json_schema=_example("/account/profile"),
    ),
]


class SsoTokenCreate(msgspec.Struct, kw_only=True):
    """A one-time link that signs the user in, into `client_id` when given (an account they
    reach, not closed), then lands on `destination`."""

    client_id: Id | None = None
    destination: Destination | None = None

    def check(self) -> str:
        """The destination's path (HOME when none is given)."""
        if self.destination is None:
            return HOME
        with checked_input():
            return local_path(self.destination)


class SsoToken(msgspec.Struct):
    """The link: open `redirect_url` in the user's browser before `expires_at` (60 seconds). It
    works once; the token is stored only as its hash and shown in this answer only."""

    access_token: str
    redirect_url: str
    expires_at: datetime


# ---- webhooks ------------------------------------------------------------------------------

if TYPE_CHECKING:
    EventType = str
else:
    EventType = Literal[(ALL_TYPES, *EVENT_TYPES)]
WebhookUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=URL_MAX,
        pattern=_PRINTABLE,
        description="http(s); its host must resolve only to public addresses.",
        extra_json_schema=_example("https://hooks.example.com/roster"),
    ),
]
WebhookDescription = Annotated[
    str,
    msgspec.Meta(
        max_length=DESCRIPTION_MAX, pattern=_PRINTABLE, extra_json_schema=_example("Billing")
    ),
]
EventTypes = Annotated[
    list[EventType],
    msgspec.Meta(
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        description=f'The event types sent to the endpoint, or ["{ALL_TYPES}"]: every one, '
        "those added later too.",
        extra_json_schema=_example(["client.created", "user.updated"]),
    ),
]


class WebhookEndpointCreate(msgspec.Struct, kw_only=True):
    url: WebhookUrl
    description: WebhookDescription = ""
    event_types: EventTypes = msgspec.field(default_factory=lambda: [ALL_TYPES])
    enabled: bool = True

    def check(self) -> None:
        with checked_input():
            clean_description(self.description)
            clean_event_types(self.event_types)


class WebhookEndpointUpdate(msgspec.Struct, kw_only=True):
    """Only the fields sent change (null or absent: unchanged)."""

    url: WebhookUrl | None = None
    description: WebhookDescription | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None

    def check(self) -> None:
        with checked_input():
            if self.description is not None:
                clean_description(self.description)
            if self.event_types is not None:
                clean_event_types(self.event_types)

    def changes(self) -> dict:
        """The fields sent, by name."""
        fields = ("url", "description", "event_types", "enabled")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


class WebhookEndpoint(msgspec.Struct):
    """An endpoint, never with its signing secret."""

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    failing_since: datetime | None
    disabled_reason: str
    previous_secret_valid_until: datetime | None


class WebhookEndpointWithSecret(WebhookEndpoint):
    """The endpoint with its new signing secret: shown in this answer only, never again."""

    secret: str


class WebhookEndpointList(msgspec.Struct):
    items: list[WebhookEndpoint]
    total: int
    offset: int
    limit: int


class WebhookDelivery(msgspec.Struct):
    """One message for the endpoint (its body aside). `message_id` is its webhook-id header,
    the same on every attempt and on a resend."""

    id: int
    message_id: str
    event_type: str
    event_version: int
    status: Literal["queued", "delivering", "delivered", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_response: str


class WebhookDeliveryList(msgspec.Struct):
    items: list[WebhookDelivery]
    total: int
    offset: int
    limit: int


class WebhookQueued(msgspec.Struct):
    """The delivery queued (sent in the background)."""

    delivery_id: int


class WebhookReplay(msgspec.Struct, kw_only=True):
    since: Annotated[
        datetime,
        msgspec.Meta(
            tz=True,
            description="RFC 3339, with its offset: the messages first given at or after it.",
            extra_json_schema=_example("2025-01-01T00:00:00Z"),
        ),
    ]


class WebhookReplayed(msgspec.Struct):
    """How many messages were queued again."""

    queued: int


class WebhookEventType(msgspec.Struct):
    name: str
    version: int
    description: str


class WebhookEventTypeList(msgspec.Struct):
    items: list[WebhookEventType]
    total: int


# ---- apps (Sign in with Roster) ------------------------------------------------------------

if TYPE_CHECKING:
    Scope = str
    IdTokenAlg = str
else:
    Scope = Literal[oauth_apps.SCOPES_SUPPORTED]
    IdTokenAlg = Literal[oauth_apps.ALGORITHMS]
AppName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=oauth_apps.NAME_MAX,
        pattern=_PRINTABLE,
        extra_json_schema=_example("Support desk"),
    ),
]
Uri = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=oauth_apps.URI_MAX,
        pattern=_PRINTABLE,
        description="An absolute https URI without a fragment, matched exactly (plain http only "
        "for localhost, outside production).",
        extra_json_schema=_example("https://desk.example.com/callback"),
    ),
]
RedirectUris = Annotated[list[Uri], msgspec.Meta(min_length=1, max_length=oauth_apps.URIS_MAX)]
PostLogoutUris = Annotated[list[Uri], msgspec.Meta(max_length=oauth_apps.URIS_MAX)]
Scopes = Annotated[
    list[Scope],
    msgspec.Meta(
        max_length=len(oauth_apps.SCOPES_SUPPORTED),
        description="The scopes the app may ask for; `openid` is always among them.",
        extra_json_schema=_example(["openid", "profile", "email"]),
    ),
]


class AppCreate(msgspec.Struct, kw_only=True):
    name: AppName
    redirect_uris: RedirectUris
    post_logout_redirect_uris: PostLogoutUris = msgspec.field(default_factory=list)
    confidential: bool = True
    first_party: bool = False
    allowed_scopes: Scopes = msgspec.field(
        default_factory=lambda: list(oauth_apps.SCOPES_SUPPORTED)
    )
    id_token_alg: IdTokenAlg = "RS256"

    def check(self) -> None:
        with checked_input():
            oauth_apps.clean_app_name(self.name)
            oauth_apps.clean_uris(self.redirect_uris, "redirect_uris", required=True)
            oauth_apps.clean_uris(
                self.post_logout_redirect_uris, "post_logout_redirect_uris", required=False
            )
            oauth_apps.clean_scopes(self.allowed_scopes)


class AppUpdate(msgspec.Struct, kw_only=True):
    """Only the fields sent change (null or absent: unchanged)."""

    name: AppName | None = None
    redirect_uris: RedirectUris | None = None
    post_logout_redirect_uris: PostLogoutUris | None = None
    confidential: bool | None = None
    first_party: bool | None = None
    allowed_scopes: Scopes | None = None
    id_token_alg: IdTokenAlg | None = None
    enabled: bool | None = None

    def check(self) -> None:
        with checked_input():
            if self.name is not None:
                oauth_apps.clean_app_name(self.name)
            if self.redirect_uris is not None:
                oauth_apps.clean_uris(self.redirect_uris, "redirect_uris", required=True)
            if self.post_logout_redirect_uris is not None:
                oauth_apps.clean_uris(
                    self.post_logout_redirect_uris, "post_logout_redirect_uris", required=False
                )

    def changes(self) -> dict:
        """The fields sent, by name."""
        return {f: getattr(self, f) for f in oauth_apps.EDITABLE if getattr(self, f) is not None}


class App(msgspec.Struct):
    """An app that signs people in with Roster, never with its secret."""

    id: int
    client_id: str
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    confidential: bool
    first_party: bool
    allowed_scopes: list[str]
    id_token_alg: str
    enabled: bool
    created_at: datetime


class AppWithSecret(App):
    """The app with its new Client Secret: shown in this answer only, never again. Null when no
    secret was made (a public app; a change that did not make the app confidential)."""

    client_secret: str | None


class AppList(msgspec.Struct):
    items: list[App]
    total: int
    offset: int
    limit: int
