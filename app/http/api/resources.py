"""The resources of /api/v1: thin handlers over the same services as the web pages. Every write
acts as the credential (`caller.actor`), so the activity log names it."""

import contextlib
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter

from app.core import permissions
from app.core.config import get_settings
from app.core.db import MAX_ID
from app.core.errors import DomainError, NotFound
from app.core.i18n import _
from app.core.policy import Permission
from app.core.stale import version
from app.core.validation import clean_search
from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.invitations import bulk
from app.domain.invitations import services as invitations
from app.domain.presets import services as presets
from app.domain.sso import services as sso
from app.domain.users import services as users
from app.domain.webhooks import services as webhooks
from app.domain.webhooks.addresses import AddressRefused

from . import schemas as s
from .auth import caller_of
from .problems import InvalidInput, problem_responses
from .webhook_messages import described

ClientId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The client account's id.")]
UserId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The user's id.")]
InvitationId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The invitation's id.")]
EndpointId = Annotated[
    int, PathParameter(ge=1, le=MAX_ID, description="The webhook endpoint's id.")
]
DeliveryId = Annotated[
    int, PathParameter(ge=1, le=MAX_ID, description="The webhook delivery's id.")
]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="Items to skip.")]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Items per page (1 to 100).")]
Search = Annotated[
    str,
    QueryParameter(
        max_length=100,
        description="Words that names or the email start with (case-insensitive).",
    ),
]

READ = problem_responses()
READ_ONE = problem_responses(404)
WRITE = problem_responses(400, 403, 409)
WRITE_ONE = problem_responses(400, 403, 404, 409)
EDIT = problem_responses(400, 403, 404, 409, 412)  # a change with an optional If-Match

# An edit made only on the version read: the ETag of a GET (or of the last edit's answer), which
# covers what the edit can set (a user's name, email and language; an account's profile; a
# grant's permissions). Without it the edit is made whatever changed meanwhile.
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description="The ETag the resource was read with: the change is made only if what it "
        "covers is still as read (else 412, nothing changed). `*`: no condition.",
    ),
]
ETAG = [
    ResponseHeader(
        name="ETag",
        documentation_only=True,
        value='"<20 hex digits>"',  # documents a string; each answer sends its own
        description="The version of what an edit of the resource can set, for If-Match.",
    )
]


def precondition(if_match: str | None) -> tuple[str, ...] | None:
    """The versions an If-Match accepts, or None for no condition (absent, or `*`). Compared
    strongly (RFC 9110 13.1.1): a weak tag matches nothing."""
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" in tags:
        return None
    return tuple(tag.strip('"') for tag in tags if not tag.startswith("W/"))


def tagged(body, values: dict, status_code: int = 200) -> Response:
    """The answer with its ETag: the version of `values`, what an edit of it can set."""
    return Response(body, status_code=status_code, headers={"ETag": f'"{version(values)}"'})


# Our field names, and the names app.domain.clients.services.list_clients orders by.
CLIENT_ORDER = {
    "id": "id",
    "first_name": "firstname",
    "last_name": "lastname",
    "company_name": "companyname",
    "email": "email",
    "created_at": "datecreated",
    "status": "status",
}
# The checker reads no Literal built at run time: for it, an order is a str; msgspec and the
# OpenAPI document get the names.
if TYPE_CHECKING:
    ClientOrder = str
else:
    ClientOrder = Literal[tuple(CLIENT_ORDER)]


def searched(search: str) -> str:
    try:
        return clean_search(search)
    except DomainError as exc:
        raise InvalidInput(exc.message, "search") from exc


def client_summary(row: dict) -> s.ClientSummary:
    return s.ClientSummary(
        id=row["id"],
        company_name=row["company_name"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        status=row["status"],
        owner_id=row["owner"],
        created_at=row["created_at"],
    )


def client_out(row: dict) -> s.ClientOut:
    summary = msgspec.structs.asdict(client_summary(row))
    return s.ClientOut(
        **summary,
        **{f: row[f] for f in clients.CONTACT_FIELDS},
        require_two_factor=bool(row["require_two_factor"]),
    )


def client_tagged(row: dict) -> Response:
    return tagged(client_out(row), {k: row[k] for k in clients.PROFILE_FIELDS})


class Permissions(Controller):
    path = "/permissions"
    tags = ["Permissions"]

    @get(
        summary="The permission keys a grant or an invitation can hold",
        responses=READ,
        permission=Permission.STAFF,
    )
    async def list_permissions(self) -> s.PermissionList:
        items = [s.Permission(p.key, p.label, p.description) for p in permissions.PERMISSIONS]
        return s.PermissionList(items=items, total=len(items))


class Presets(Controller):
    path = "/presets"
    tags = ["Permissions"]

    @get(
        summary="The permission presets: shipped ones, then staff's",
        description="Give a preset's id as `preset` when inviting or giving access.",
        responses=READ,
        permission=Permission.STAFF,
    )
    async def list_presets(self) -> s.PresetList:
        items = [
            s.Preset(p.id, p.name, list(p.permissions), p.shipped)
            for p in await presets.list_presets()
        ]
        return s.PresetList(items=items, total=len(items))


async def keys_given(
    data: s.AccessCreate | s.BulkInviteCreate | s.AccountOfInvitation,
) -> list[str]:
    """The keys a new grant or invitation (or a bulk invite's rows that name none) is given:
    its permissions, or its preset's keys now (an unknown preset is invalid input)."""
    if isinstance(data.preset, str):
        with s.checked_input():
            return list(await presets.keys_of(data.preset))
    return list(data.permissions) if isinstance(data.permissions, list) else []


class Clients(Controller):
    path = "/clients"
    tags = ["Clients"]

    @get(summary="List client accounts", responses=READ, permission=Permission.STAFF)
    async def list_clients(
        self,
        search: Search = "",
        status: FromQuery[s.ClientStatus | None] = None,
        order_by: FromQuery[ClientOrder] = "id",
        descending: FromQuery[bool] = False,
        offset: Offset = 0,
        limit: Limit = 25,
    ) -> s.ClientList:
        total, rows = await clients.list_clients(
            search=searched(search),
            status=status,
            order_by=CLIENT_ORDER[order_by],
            descending=descending,
            offset=offset,
            limit=limit,
        )
        return s.ClientList([client_summary(r) for r in rows], total, offset, limit)

    @post(
        summary="Create a client account and its owner",
        permission=Permission.MANAGE_USERS,
        responses=WRITE_ONE,
    )
    async def create_client(self, request: Request, data: JSONBody[s.ClientCreate]) -> s.ClientOut:
        data.check()
        if data.owner_user_id is not None:
            await users.get_user(data.owner_user_id)  # 404 when there is no such user
        client_id = await clients.create_client(
            owner_email=data.owner_email,
            owner_first=data.owner_first_name,
            owner_last=data.owner_last_name,
            owner_password=data.owner_password,
            company=data.company_name,
            contact=data.contact(),
            owner_user_id=data.owner_user_id,
            new_owner_only=data.owner_user_id is None,
            actor=caller_of(request).actor,
        )
        return client_out(await clients.get_client(client_id))

    @get(
        "/{client_id:int}",
        summary="One client account",
        responses=READ_ONE,
        response_headers=ETAG,
        permission=Permission.VIEW_ACCOUNT_USERS,
    )
    async def get_client(self, client_id: ClientId) -> Response[s.ClientOut]:
        return client_tagged(await clients.get_client(client_id))

    @patch(
        "/{client_id:int}",
        summary="Change a client account (only the fields sent)",
        description="With If-Match (the ETag read), only if its profile is still as read; its "
        "status is not part of that version.",
        permission=Permission.MANAGE_USERS,
        responses=EDIT,
        response_headers=ETAG,
    )
    async def update_client(
        self,
        request: Request,
        client_id: ClientId,
        data: JSONBody[s.ClientUpdate],
        if_match: IfMatch = None,
    ) -> Response[s.ClientOut]:
        data.check()
        row = await clients.update_client(
            client_id,
            actor=caller_of(request).actor,
            company_name=data.company_name,
            first_name=data.first_name,
            last_name=data.last_name,
            email=data.email,
            status=data.status,
            contact=data.contact(),
            require_two_factor=data.require_two_factor,
            opened=precondition(if_match),
        )
        return client_tagged(row)

    @delete(
        "/{client_id:int}",
        summary="Delete a client account",
        description="Its grants and invitations go with it. With `delete_users`, its users who "
        "reach no other account are deleted too (never one who still reaches another).",
        status_code=200,
        permission=Permission.MANAGE_USERS,
        responses=problem_responses(403, 404, 409),
    )
    async def delete_client(
        self, request: Request, client_id: ClientId, delete_users: FromQuery[bool] = False
    ) -> s.ClientDeleted:
        deleted = await clients.delete_client(
            client_id, delete_users=delete_users, actor=caller_of(request).actor
        )
        return s.ClientDeleted(id=client_id, deleted_user_ids=list(deleted))


def user_out(row: dict, accounts: list[dict]) -> s.UserOut:
    return s.UserOut(
        id=row["id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        language=row["language"],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        clients=[s.UserAccount(a["id"], a["is_owner"]) for a in accounts],
    )


async def user_with_accounts(user_id: int) -> Response:
    user = await users.get_user(user_id)
    accounts = await access.user_accounts(user_id)
    reached = [{"id": a["client_id"], "is_owner": a["is_owner"]} for a in accounts]
    return tagged(user_out(user, reached), {k: user[k] for k in users.USER_FIELDS})


class Users(Controller):
    path = "/users"
    tags = ["Users"]

    @get(summary="List users", responses=READ, permission=Permission.LIST_USERS)
    async def list_users(
        self,
        search: Search = "",
        descending: FromQuery[bool] = False,
        offset: Offset = 0,
        limit: Limit = 25,
    ) -> s.UserList:
        total, rows = await users.list_users(
            search=searched(search), descending=descending, offset=offset, limit=limit
        )
        return s.UserList([user_out(r, r["clients"]) for r in rows], total, offset, limit)

    @post(summary="Create a user", permission=Permission.MANAGE_USERS, responses=WRITE)
    async def create_user(self, request: Request, data: JSONBody[s.UserCreate]) -> s.UserOut:
        data.check()
        user = await users.create_user(
            first_name=data.first_name,
            last_name=data.last_name,
            email=data.email,
            password=data.password,
            language=data.language,
            actor=caller_of(request).actor,
        )
        return user_out(user, [])

    @get(
        "/{user_id:int}",
        summary="One user, with the accounts they reach",
        responses=READ_ONE,
        response_headers=ETAG,
        permission=Permission.LIST_USERS,
    )
    async def get_user(self, user_id: UserId) -> Response[s.UserOut]:
        return await user_with_accounts(user_id)

    @patch(
        "/{user_id:int}",
        summary="Change a user (only the fields sent)",
        description="With If-Match (the ETag read), only if their name, email and language are "
        "still as read.",
        permission=Permission.MANAGE_USERS,
        responses=EDIT,
        response_headers=ETAG,
    )
    async def update_user(
        self,
        request: Request,
        user_id: UserId,
        data: JSONBody[s.UserUpdate],
        if_match: IfMatch = None,
    ) -> Response[s.UserOut]:
        data.check()
        before = await users.get_user(user_id)
        await users.update_user(
            user_id,
            first_name=before["first_name"] if data.first_name is None else data.first_name,
            last_name=before["last_name"] if data.last_name is None else data.last_name,
            email=before["email"] if data.email is None else data.email,
            language=data.language or before["language"],
            actor=caller_of(request).actor,
            opened=precondition(if_match),
        )
        return await user_with_accounts(user_id)

    @delete(
        "/{user_id:int}",
        summary="Delete a user who has no access to any account",
        permission=Permission.DELETE_USERS,
        responses=problem_responses(403, 404, 409),
    )
    async def delete_user(self, request: Request, user_id: UserId) -> None:
        await users.delete_user(user_id, actor=caller_of(request).actor)

    @post(
        "/{user_id:int}/sso-tokens",
        summary="Make a one-time link that signs the user in",
        description="WHMCS's CreateSsoToken. Open `redirect_url` in the user's browser within 60 "
        "seconds: it signs them in once, as a login does (into `client_id` when given, an "
        "account they reach that is not closed), then lands on `destination`. A user with "
        "two-factor authentication still enters their Authentication Code. The token is shown "
        "in this answer only. 404: no such user or account; 409: the user's login is disabled "
        "or the account is closed; 422: an account they do not reach, or a destination that is "
        "not a path on this site.",
        permission=Permission.MANAGE_USERS,
        responses=WRITE_ONE,
    )
    async def create_sso_token(
        self, request: Request, user_id: UserId, data: JSONBody[s.SsoTokenCreate]
    ) -> s.SsoToken:
        destination = data.check()
        try:
            link = await sso.create_link(
                user_id,
                client_id=data.client_id,
                destination=destination,
                base_url=get_settings().base_url,
                actor=caller_of(request).actor,
            )
        except sso.NoAccess as exc:
            raise InvalidInput(exc.message, "client_id") from exc
        return s.SsoToken(link.token, link.url, link.expires_at)


def grant_out(row: dict) -> s.Grant:
    return s.Grant(
        user_id=row["id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        is_owner=row["is_owner"],
        permissions=list(row["permissions"]),
        access_until=row.get("access_until"),
    )


async def one_grant(client_id: int, user_id: int, status_code: int = 200) -> Response:
    await clients.get_client(client_id)
    found = await access.access_for(user_id, client_id)
    if found is None:
        raise NotFound(_("This user has no access to this account."))
    user = await users.get_user(user_id)
    until = await access.access_until_of(client_id, user_id)
    grant = grant_out(
        {
            **user,
            "is_owner": found.is_owner,
            "permissions": found.permissions,
            "access_until": until,
        }
    )
    return tagged(grant, access.grant_version(found.permissions, until), status_code)


class AccountUsers(Controller):
    """An account's users: each one's access (a grant) with its permissions."""

    path = "/clients/{client_id:int}/users"
    tags = ["Account users"]

    @get(
        summary="The account's users, the owner first",
        responses=READ_ONE,
        permission=Permission.VIEW_ACCOUNT_USERS,
    )
    async def list_grants(
        self, client_id: ClientId, offset: Offset = 0, limit: Limit = 25
    ) -> s.GrantList:
        await clients.get_client(client_id)
        total, rows = await clients.client_users_page(client_id, offset=offset, limit=limit)
        return s.GrantList([grant_out(r) for r in rows], total, offset, limit)

    @post(
        summary="Give an existing user access with these permissions",
        permission=Permission.MANAGE_USERS,
        responses=WRITE_ONE,
    )
    async def grant(
        self, request: Request, client_id: ClientId, data: JSONBody[s.GrantCreate]
    ) -> Response[s.Grant]:
        data.check()
        await access.grant_access(
            client_id,
            data.user_id,
            await keys_given(data),
            actor=caller_of(request).actor,
            access_until=data.until(),
        )
        return await one_grant(client_id, data.user_id, 201)

    @get(
        "/{user_id:int}",
        summary="One user's access to the account",
        responses=READ_ONE,
        response_headers=ETAG,
        permission=Permission.VIEW_ACCOUNT_USERS,
    )
    async def get_grant(self, client_id: ClientId, user_id: UserId) -> Response[s.Grant]:
        return await one_grant(client_id, user_id)

    @put(
        "/{user_id:int}",
        summary="Set a user's permissions on the account (not the owner's)",
        description="With If-Match (the ETag read), only if their permissions and Access until "
        "are still as read.",
        permission=Permission.MANAGE_USERS,
        responses=EDIT,
        response_headers=ETAG,
    )
    async def set_permissions(
        self,
        request: Request,
        client_id: ClientId,
        user_id: UserId,
        data: JSONBody[s.PermissionsBody],
        if_match: IfMatch = None,
    ) -> Response[s.Grant]:
        data.check()
        await access.update_permissions(
            client_id,
            user_id,
            data.permissions,
            actor=caller_of(request).actor,
            opened=precondition(if_match),
            access_until=access.KEEP if data.access_until is msgspec.UNSET else data.access_until,
        )
        return await one_grant(client_id, user_id)

    @delete(
        "/{user_id:int}",
        summary="Remove a user's access (never the user; not the owner)",
        permission=Permission.MANAGE_USERS,
        responses=problem_responses(403, 404, 409),
    )
    async def revoke(self, request: Request, client_id: ClientId, user_id: UserId) -> None:
        await access.revoke_access(client_id, user_id, actor=caller_of(request).actor)


def invitation_out(row: dict) -> s.Invitation:
    return s.Invitation(
        id=row["id"],
        email=row["email"],
        permissions=list(row["permission_keys"]),
        status=row["status"],
        sender_name=row["sender_name"],
        created_at=row["created_at"],
        last_sent_at=row["last_sent_at"],
        expires_at=row["expires_at"],
        times_sent=row["times_sent"],
        delivery_failed=row["delivery_failed"],
        access_until=row["access_until"],
    )


async def open_invitation(client_id: int, invitation_id: int) -> s.Invitation:
    rows = await invitations.open_invites(client_id, after=invitation_id - 1, size=1)
    if not rows or rows[0]["id"] != invitation_id:
        raise NotFound(_("This invite is no longer pending."))
    return invitation_out(rows[0])


class Invitations(Controller):
    """An account's open invitations. Their links go by email only: no response holds one."""

    path = "/clients/{client_id:int}/invitations"
    tags = ["Invitations"]

    @get(
        summary="The account's open invitations (pending or expired)",
        responses=READ_ONE,
        permission=Permission.VIEW_ACCOUNT_USERS,
    )
    async def list_invitations(
        self, client_id: ClientId, offset: Offset = 0, limit: Limit = 25
    ) -> s.InvitationList:
        await clients.get_client(client_id)
        total, rows = await invitations.open_invites_slice(client_id, offset=offset, limit=limit)
        return s.InvitationList([invitation_out(r) for r in rows], total, offset, limit)

    @post(
        summary="Invite an email address to the account",
        description="The invitation is emailed; its link is in no response.",
        permission=Permission.MANAGE_USERS,
        responses=WRITE_ONE,
    )
    async def invite(
        self, request: Request, client_id: ClientId, data: JSONBody[s.InvitationCreate]
    ) -> s.Invitation:
        data.check()
        invitation_id, _link_token = await invitations.invite(
            client_id,
            data.email,
            await keys_given(data),
            actor=caller_of(request).actor,
            access_until=data.until(),
        )
        return await open_invitation(client_id, invitation_id)

    @post(
        "/bulk",
        summary="Invite many addresses at once, or preview it (`dry_run`)",
        description="Every row is decided by the rules of a single invitation, again at send "
        "time; the invitations, resends and emails of one request are written in one "
        "transaction (all or none). The same list sent again sends nothing new.",
        status_code=200,
        permission=Permission.MANAGE_USERS,
        responses=problem_responses(400, 403, 404, 409),
    )
    async def bulk_invite(
        self, request: Request, client_id: ClientId, data: JSONBody[s.BulkInviteCreate]
    ) -> s.BulkInviteResult:
        entries = data.entries()
        action = bulk.preview if data.dry_run else bulk.send
        plan = await action(
            client_id,
            entries,
            await keys_given(data),  # [] when neither: only rows naming their own are allowed
            actor=caller_of(request).actor,
            resend_pending=data.resend_pending,
            access_until=data.access_until,
        )
        return s.BulkInviteResult(
            dry_run=data.dry_run,
            sent=0 if data.dry_run else plan.to_send,
            counts=plan.counts,
            daily_limit=plan.limit,
            sent_today=plan.sent_today,
            left_today=plan.left_today,
            resend_cooldown_seconds=plan.cooldown_seconds,
            rows=[
                s.BulkInviteRow(
                    row=r.row,
                    email=r.email,
                    name=r.name,
                    outcome=r.outcome,
                    reason=r.reason,
                    permissions=list(r.permissions),
                    user_id=r.user_id,
                    invitation_id=r.invitation_id,
                )
                for r in plan.rows
            ],
        )

    @post(
        "/{invitation_id:int}/resend",
        summary="Send the invitation again: a new link, valid the set days again (7 by default)",
        status_code=200,
        permission=Permission.MANAGE_USERS,
        responses=problem_responses(403, 404, 409),
    )
    async def resend(
        self, request: Request, client_id: ClientId, invitation_id: InvitationId
    ) -> s.Invitation:
        await invitations.resend(client_id, invitation_id, actor=caller_of(request).actor)
        return await open_invitation(client_id, invitation_id)

    @delete(
        "/{invitation_id:int}",
        summary="Cancel the invitation (its link stops working; the invitee is not told)",
        permission=Permission.MANAGE_USERS,
        responses=problem_responses(403, 404, 409),
    )
    async def cancel(
        self, request: Request, client_id: ClientId, invitation_id: InvitationId
    ) -> None:
        await invitations.cancel(client_id, invitation_id, actor=caller_of(request).actor)


def endpoint_out(row: dict) -> s.WebhookEndpoint:
    return s.WebhookEndpoint(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"]),
        enabled=row["enabled"],
        created_at=row["created_at"],
        failing_since=row["failing_since"],
        disabled_reason=row["disabled_reason"],
        previous_secret_valid_until=row["previous_secret_until"],
    )


def endpoint_tagged(row: dict) -> Response:
    return tagged(endpoint_out(row), {k: row[k] for k in webhooks.EDITABLE})


async def endpoint_with_secret(new: webhooks.NewSecret, status_code: int) -> Response:
    shown = msgspec.structs.asdict(endpoint_out(await webhooks.get_endpoint(new.endpoint_id)))
    with_secret = s.WebhookEndpointWithSecret(**shown, secret=new.secret)
    return Response(with_secret, status_code=status_code)


def delivery_out(row: dict) -> s.WebhookDelivery:
    return s.WebhookDelivery(
        id=row["id"],
        message_id=row["message_id"],
        event_type=row["event_type"],
        event_version=row["event_version"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        last_status_code=row["last_status_code"],
        last_duration_ms=row["last_duration_ms"],
        last_response=row["last_response"],
    )


@contextlib.contextmanager
def address_checked():
    """A URL refused for where it points (not public, not resolvable) is invalid input, like a
    malformed one: 422, not a conflict."""
    try:
        yield
    except AddressRefused as exc:
        raise InvalidInput(exc.message, exc.field) from exc


class SeveralInvitations(Controller):
    path = "/invitations"
    tags = ["Invitations"]

    @post(
        summary="Invite one address to several accounts in one email",
        description="Each account gets an invitation of its own (listed, resent and cancelled "
        "there); the email lists them all and its one link accepts every one still open. All or "
        "none: every account's refusal (closed, daily limit, already has access, already "
        "pending) is said at once. Its link is in no response.",
        permission=Permission.MANAGE_USERS,
        responses=WRITE_ONE,
    )
    async def invite_to_accounts(
        self, request: Request, data: JSONBody[s.SeveralInvitationCreate]
    ) -> s.SeveralInvitation:
        data.check()
        sent = await invitations.invite_to_accounts(
            data.email,
            [invitations.ForAccount(a.client_id, await keys_given(a)) for a in data.accounts],
            actor=caller_of(request).actor,
            access_until=data.until(),
        )
        made = zip(data.accounts, sent.invitation_ids, strict=True)
        return s.SeveralInvitation(
            email=sent.email,
            invitations=[
                s.AccountInvitation(a.client_id, await open_invitation(a.client_id, i))
                for a, i in made
            ],
        )


class WebhookEndpoints(Controller):
    """Where Roster sends its events, signed (Standard Webhooks)."""

    path = "/webhooks/endpoints"
    tags = ["Webhooks"]

    @get(
        summary="List webhook endpoints, oldest first",
        responses=problem_responses(403),
        permission=Permission.MANAGE_WEBHOOKS,
    )
    async def list_endpoints(
        self, request: Request, offset: Offset = 0, limit: Limit = 25
    ) -> s.WebhookEndpointList:
        total, rows = await webhooks.endpoints_page(
            offset=offset, limit=limit, actor=caller_of(request).actor
        )
        return s.WebhookEndpointList([endpoint_out(r) for r in rows], total, offset, limit)

    @post(
        summary="Add a webhook endpoint",
        description="The answer holds its signing secret: the only time it is shown.",
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(400, 403),
    )
    async def create_endpoint(
        self, request: Request, data: JSONBody[s.WebhookEndpointCreate]
    ) -> Response[s.WebhookEndpointWithSecret]:
        data.check()
        with address_checked():
            new = await webhooks.create_endpoint(
                url=data.url,
                description=data.description,
                event_types=data.event_types,
                enabled=data.enabled,
                actor=caller_of(request).actor,
            )
        return await endpoint_with_secret(new, 201)

    @get(
        "/{endpoint_id:int}",
        summary="One webhook endpoint (never its secret)",
        responses=problem_responses(403, 404),
        response_headers=ETAG,
        permission=Permission.MANAGE_WEBHOOKS,
    )
    async def get_endpoint(
        self, request: Request, endpoint_id: EndpointId
    ) -> Response[s.WebhookEndpoint]:
        return endpoint_tagged(
            await webhooks.read_endpoint(endpoint_id, actor=caller_of(request).actor)
        )

    @patch(
        "/{endpoint_id:int}",
        summary="Change a webhook endpoint (only the fields sent)",
        description="With If-Match (the ETag read), only if its URL, description, event types "
        "and whether it is enabled are still as read. Enabling it again sends what it kept "
        "queued.",
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(400, 403, 404, 412),
        response_headers=ETAG,
    )
    async def update_endpoint(
        self,
        request: Request,
        endpoint_id: EndpointId,
        data: JSONBody[s.WebhookEndpointUpdate],
        if_match: IfMatch = None,
    ) -> Response[s.WebhookEndpoint]:
        data.check()
        with address_checked():
            row = await webhooks.update_endpoint(
                endpoint_id,
                **data.changes(),
                actor=caller_of(request).actor,
                opened=precondition(if_match),
            )
        return endpoint_tagged(row)

    @delete(
        "/{endpoint_id:int}",
        summary="Delete a webhook endpoint, with its deliveries, sent or not",
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(403, 404),
    )
    async def delete_endpoint(self, request: Request, endpoint_id: EndpointId) -> None:
        await webhooks.delete_endpoint(endpoint_id, actor=caller_of(request).actor)

    @post(
        "/{endpoint_id:int}/rotate-secret",
        summary="Give the endpoint a new signing secret",
        description="The answer holds the new secret: the only time it is shown. The previous "
        "one signs too (a second signature) until `previous_secret_valid_until`, 24 hours.",
        status_code=200,
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(403, 404),
    )
    async def rotate_secret(
        self, request: Request, endpoint_id: EndpointId
    ) -> Response[s.WebhookEndpointWithSecret]:
        new = await webhooks.rotate_secret(endpoint_id, actor=caller_of(request).actor)
        return await endpoint_with_secret(new, 200)

    @post(
        "/{endpoint_id:int}/test",
        summary="Send the endpoint a webhook.test message",
        status_code=202,
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(403, 404),
    )
    async def send_test_event(self, request: Request, endpoint_id: EndpointId) -> s.WebhookQueued:
        actor = caller_of(request).actor
        return s.WebhookQueued(await webhooks.send_test_event(endpoint_id, actor=actor))

    @get(
        "/{endpoint_id:int}/deliveries",
        summary="The endpoint's deliveries, newest first (without their bodies)",
        responses=problem_responses(403, 404),
        permission=Permission.MANAGE_WEBHOOKS,
    )
    async def list_deliveries(
        self, request: Request, endpoint_id: EndpointId, offset: Offset = 0, limit: Limit = 25
    ) -> s.WebhookDeliveryList:
        total, rows = await webhooks.deliveries_page(
            endpoint_id, offset=offset, limit=limit, actor=caller_of(request).actor
        )
        return s.WebhookDeliveryList([delivery_out(r) for r in rows], total, offset, limit)

    @post(
        "/{endpoint_id:int}/replay",
        summary="Send again every message the endpoint was first given since a moment",
        description="In their order, each once, with its webhook-id, after what is queued.",
        status_code=202,
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(400, 403, 404),
    )
    async def replay(
        self, request: Request, endpoint_id: EndpointId, data: JSONBody[s.WebhookReplay]
    ) -> s.WebhookReplayed:
        actor = caller_of(request).actor
        return s.WebhookReplayed(await webhooks.replay_since(endpoint_id, data.since, actor=actor))


class WebhookDeliveries(Controller):
    path = "/webhooks/deliveries"
    tags = ["Webhooks"]

    @post(
        "/{delivery_id:int}/resend",
        summary="Send a delivery's message again, with the same webhook-id",
        status_code=202,
        permission=Permission.MANAGE_WEBHOOKS,
        responses=problem_responses(403, 404),
    )
    async def resend(self, request: Request, delivery_id: DeliveryId) -> s.WebhookQueued:
        actor = caller_of(request).actor
        return s.WebhookQueued(await webhooks.resend_delivery(delivery_id, actor=actor))


class WebhookEventTypes(Controller):
    path = "/webhooks/event-types"
    tags = ["Webhooks"]

    @get(
        summary="The event types an endpoint can take",
        description="Each one's body is documented under the document's `webhooks`.",
        responses=problem_responses(403),
        permission=Permission.MANAGE_WEBHOOKS,
    )
    async def list_event_types(self, request: Request) -> s.WebhookEventTypeList:
        kinds = await webhooks.offered_kinds(actor=caller_of(request).actor)
        items = [s.WebhookEventType(k.NAME, k.VERSION, described(k)) for k in kinds]
        return s.WebhookEventTypeList(items=items, total=len(items))


CONTROLLERS = [
    Permissions,
    Presets,
    Clients,
    Users,
    AccountUsers,
    Invitations,
    SeveralInvitations,
    WebhookEndpoints,
    WebhookDeliveries,
    WebhookEventTypes,
]
