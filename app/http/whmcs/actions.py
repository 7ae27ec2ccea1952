"""The WHMCS actions, one small function each: WHMCS's parameter names, response fields, JSON
types and error texts (../shared/WHMCS-API.md) over Roster's services, whose rules and activity
log apply as for the web (the credential is the actor).

A service's refusal that WHMCS documents is answered with WHMCS's text (checked here, before the
service is called); any other refusal keeps Roster's own message."""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

from app.core import permissions
from app.core.errors import DomainError, NotFound
from app.core.policy import Permission
from app.core.validation import COUNTRY_NAMES, clean_email
from app.domain.access import services as access
from app.domain.activity import services as activity
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.credentials.services import ApiCaller
from app.domain.invitations import services as invitations
from app.domain.sso import services as sso
from app.domain.users import services as users
from app.http.whmcs.params import ApiError, Params

SUCCESS = {"result": "success"}


class Call(NamedTuple):
    """What an action gets besides its parameters."""

    caller: ApiCaller
    base_url: str  # the origin emailed links point at


# --- shared checks ---------------------------------------------------------------------------


async def _user(params: Params, name: str, error: str) -> dict:
    try:
        return await users.get_user(params.id(name, error))
    except NotFound:
        raise ApiError(error) from None


async def _client(params: Params, name: str, error: str) -> dict:
    try:
        return await clients.get_client(params.id(name, error))
    except NotFound:
        raise ApiError(error) from None


def _email(value: str, error: str) -> str:
    try:
        return clean_email(value)[0]
    except DomainError:
        raise ApiError(error) from None


async def _user_and_client(params: Params) -> tuple[dict, dict, clients.Access]:
    """user_id and client_id, as GetUserPermissions, UpdateUserPermissions and
    DeleteUserClient read them, and the user's access there."""
    user = await _user(params, "user_id", "Invalid user id")
    client = await _client(params, "client_id", "Invalid client id")
    found = await clients.access_for(user["id"], client["id"])
    if found is None:
        raise ApiError("User is not associated with client")
    return user, client, found


def _language(params: Params) -> str | None:
    return params.text("language").lower() or None


def _timestamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "0000-00-00 00:00:00"


def _paged(params: Params, total: int, count: int) -> dict:
    start, _ = params.page()
    return {"totalresults": total, "startnumber": start, "numreturned": count}


# --- users -----------------------------------------------------------------------------------


async def add_user(params: Params, call: Call) -> dict:
    for name, error in (
        ("firstname", "You did not enter a first name"),
        ("lastname", "You did not enter a last name"),
        ("email", "You did not enter an email address"),
        ("password2", "You did not enter a password"),
    ):
        if not params.has(name):
            raise ApiError(error)
    email = _email(params.text("email"), "The email address entered is not valid")
    if await users.find_by_email(email) is not None:
        raise ApiError("A user already exists with that email address")
    user = await users.create_user(
        first_name=params.text("firstname"),
        last_name=params.text("lastname"),
        email=email,
        password=params.values("password2")[-1],  # as typed: spaces may be part of it
        language=_language(params) or "english",
        actor=call.caller.actor,
    )
    return {**SUCCESS, "user_id": str(user["id"])}


async def update_user(params: Params, call: Call) -> dict:
    user = await _user(params, "user_id", "Invalid User ID requested")
    fields = ("email", "firstname", "lastname", "language")
    if not any(params.has(name) for name in fields):
        raise ApiError("One of `email`, `firstname`, `lastname`, or `language` is required")
    email = user["email"]
    if params.has("email"):
        email = _email(params.text("email"), "The email address entered is not valid")
        other = await users.find_by_email(email)
        if other is not None and other["id"] != user["id"]:
            raise ApiError("A user already exists with that email address")
    await users.update_user(
        user["id"],
        first_name=params.text("firstname") or user["first_name"],
        last_name=params.text("lastname") or user["last_name"],
        email=email,
        language=_language(params) or user["language"],
        actor=call.caller.actor,
    )
    return {**SUCCESS, "user_id": str(user["id"])}


async def get_users(params: Params, call: Call) -> dict:
    start, size = params.page()
    total, rows = await users.list_users(
        search=params.text("search"),
        descending=params.text("sorting").upper() == "DESC",
        offset=start,
        limit=size,
    )
    listed = [
        {
            "id": row["id"],
            "firstname": row["first_name"],
            "lastname": row["last_name"],
            "email": row["email"],
            "datecreated": _timestamp(row["created_at"]),
            "validationdata": "",
            "clients": [{"id": c["id"], "isOwner": bool(c["is_owner"])} for c in row["clients"]],
        }
        for row in rows
    ]
    return {**SUCCESS, **_paged(params, total, len(listed)), "users": listed}


async def reset_password(params: Params, call: Call) -> dict:
    if params.has("id"):
        user_id = params.id("id", "User Not Found")
        try:
            await users.get_user(user_id)
        except NotFound:
            raise ApiError("User Not Found") from None
    elif params.has("email"):
        email = _email(params.text("email"), "Please provide a valid email address")
        user = await users.find_by_email(email)
        if user is None:
            raise ApiError("User Not Found")
        user_id = user["id"]
    else:
        raise ApiError("Please enter the email address or provide the id")
    await auth.send_password_reset(user_id, base_url=call.base_url, actor=call.caller.actor)
    return dict(SUCCESS)


# --- access and invitations ------------------------------------------------------------------


async def get_permissions_list(params: Params, call: Call) -> dict:
    # WHMCS's documented answer says "status", not "result" (every client reads either).
    return {"status": "success", "permissions": {"permission": list(permissions.ALL_KEYS)}}


# Roster's extension (docs/api.md): `access_until`, when the access ends by itself. An empty
# field counts as absent, as every field does, so "none" clears it.
NO_END = "none"


def _access_until(params: Params):
    """The end asked for: access.KEEP when absent, None for "none", else the text given."""
    if not params.has("access_until"):
        return access.KEEP
    value = params.text("access_until").strip()
    return None if value.lower() == NO_END else value


def _instant_text(when) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


async def get_user_permissions(params: Params, call: Call) -> dict:
    user, client, found = await _user_and_client(params)
    until = await access.access_until_of(client["id"], user["id"])
    return {
        **SUCCESS,
        "permissions": {"permission": list(found.permissions)},
        "access_until": _instant_text(until),
    }


async def update_user_permissions(params: Params, call: Call) -> dict:
    user, client, found = await _user_and_client(params)
    keys = params.list("permissions")
    if found.is_owner:
        raise ApiError("Permissions cannot be set on a client owner")
    if not keys:
        raise ApiError("Missing permissions definition")
    await access.update_permissions(
        client["id"],
        user["id"],
        keys,
        actor=call.caller.actor,
        access_until=_access_until(params),
    )
    return dict(SUCCESS)


async def delete_user_client(params: Params, call: Call) -> dict:
    user, client, found = await _user_and_client(params)
    if found.is_owner:
        raise ApiError("You cannot remove the account owner")
    await access.revoke_access(client["id"], user["id"], actor=call.caller.actor)
    return dict(SUCCESS)


async def create_client_invite(params: Params, call: Call) -> dict:
    client = await _client(params, "client_id", "Invalid client id")
    if not params.has("email"):
        raise ApiError("Email is required")
    email = _email(params.text("email"), "The email address entered is not valid")
    keys = params.list("permissions")
    if not keys:
        raise ApiError("User permissions are required")
    existing = await users.find_by_email(email)
    if existing and await clients.access_for(existing["id"], client["id"]) is not None:
        raise ApiError("User already associated with client")
    # The token goes into the queued email only: never into the answer or a log.
    until = _access_until(params)
    await invitations.invite(
        client["id"],
        email,
        keys,
        actor=call.caller.actor,
        access_until=None if isinstance(until, access.Keep) else until,
    )
    return dict(SUCCESS)


# --- single sign-on --------------------------------------------------------------------------


async def create_sso_token(params: Params, call: Call) -> dict:
    """A one-time link that signs the user in (app.domain.sso): `client_id` and/or `user_id`
    (absent: the client's owner), `destination` as WHMCS names it. Each refusal WHMCS documents
    is told in its text, checked here in this order: ids, destination, a closed account (the
    one state in which Roster blocks signing in to an account); anything else the service
    refuses (a disabled user) is "Token could not be provisioned: ..."."""
    client = None
    if params.has("client_id"):
        client = await _client(params, "client_id", "Invalid client_id")
    if params.has("user_id"):
        user = await _user(params, "user_id", "Invalid user_id")
        if client is not None and await clients.access_for(user["id"], client["id"]) is None:
            raise ApiError("Invalid user_id for client")
    elif client is not None:
        user = await users.get_user(client["owner"])
    else:
        raise ApiError("A valid client_id or user_id is required")
    try:
        destination = sso.destination_for(
            params.text("destination"), params.text("sso_redirect_path")
        )
    except DomainError:
        raise ApiError("Invalid destination") from None
    if client is not None and client["status"] == "Closed":
        raise ApiError(f"SSO authentication blocked for client {client['id']}")
    try:
        link = await sso.create_link(
            user["id"],
            client_id=client["id"] if client is not None else None,
            destination=destination,
            base_url=call.base_url,
            actor=call.caller.actor,
        )
    except DomainError as exc:
        raise ApiError(f"Token could not be provisioned: {exc.message}") from None
    return {**SUCCESS, "access_token": link.token, "redirect_url": link.url}


# --- client accounts -------------------------------------------------------------------------

# WHMCS's contact parameters and the Client columns that keep them (app.domain.clients.services).
CONTACT_PARAMS = {
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "postcode": "postcode",
    "country": "country",
    "phonenumber": "phone_number",
    "tax_id": "tax_id",
}
REQUIRED_CONTACT = (
    ("address1", "You did not enter your  address line 1"),  # sic: WHMCS's double space
    ("city", "You did not enter your city"),
    ("state", "You did not enter your state"),
    ("postcode", "You did not enter your postcode"),
    ("country", "Valid country required"),
    ("phonenumber", "You did not enter your phone number"),
)

# WHMCS's texts for the values the service refuses in its own words.
CONTACT_ERRORS: dict[str | None, str] = {
    "country": "Valid country required",
    "phone_number": "Invalid telephone phone number",
}


def _contact(params: Params, *, required: bool) -> dict:
    """The contact fields sent (WHMCS's required ones checked when `required`), as columns."""
    if required:
        for name, error in REQUIRED_CONTACT:
            if not params.has(name):
                raise ApiError(error)
    contact = {
        column: params.text(name) for name, column in CONTACT_PARAMS.items() if params.has(name)
    }
    try:
        return clients.clean_contact(contact)
    except DomainError as exc:
        raise ApiError(CONTACT_ERRORS.get(exc.field, exc.message)) from None


async def add_client(params: Params, call: Call) -> dict:
    owner = None
    if params.has("owner_user_id"):
        owner = await _user(params, "owner_user_id", "Invalid Owner User ID")
    for name, error in (
        ("firstname", "You did not enter your first name"),
        ("lastname", "You did not enter your last name"),
        ("email", "You did not enter your email address"),
    ):
        if not params.has(name):
            raise ApiError(error)
    email = _email(params.text("email"), "The email address you entered was not valid")
    if owner is None and await users.find_by_email(email) is not None:
        raise ApiError("A user already exists with that email address")
    contact = _contact(params, required=not params.bool("skipvalidation"))
    password = params.values("password2")[-1] if params.has("password2") else None
    client_id = await clients.create_client(
        owner_email=email,
        owner_first=params.text("firstname"),
        owner_last=params.text("lastname"),
        owner_password=password,
        company=params.text("companyname"),
        actor=call.caller.actor,
        contact=contact,
        owner_user_id=owner["id"] if owner else None,
        new_owner_only=owner is None,
    )
    owner_id = (await clients.get_client(client_id))["owner"]
    # owner_id: node-whmcs's tests expect it; whmcs-api-client models owner_user_id.
    return {**SUCCESS, "clientid": str(client_id), "owner_id": owner_id, "owner_user_id": owner_id}


# GetClients' orderby values; Roster has no client groups (every groupid is 0): by id.
GET_CLIENTS_ORDER = {**{name: name for name in clients.CLIENT_ORDERS}, "groupid": "id"}


def _status(value: str) -> str:
    status = value.capitalize()
    if status not in ("Active", "Inactive", "Closed"):
        raise ApiError("Invalid status: use Active, Inactive or Closed")
    return status


async def get_clients(params: Params, call: Call) -> dict:
    start, size = params.page()
    order = params.text("orderby").lower() or "id"
    if order not in GET_CLIENTS_ORDER:
        raise ApiError("Invalid orderby: use one of " + ", ".join(GET_CLIENTS_ORDER))
    total, rows = await clients.list_clients(
        search=params.text("search"),
        status=_status(params.text("status")) if params.has("status") else None,
        order_by=GET_CLIENTS_ORDER[order],
        descending=params.text("sorting").upper() == "DESC",
        offset=start,
        limit=size,
    )
    listed = [
        {
            "id": row["id"],
            "firstname": row["first_name"],
            "lastname": row["last_name"],
            "companyname": row["company_name"],
            "email": row["email"],
            "datecreated": row["created_at"].strftime("%Y-%m-%d"),
            "groupid": 0,
            "status": row["status"],
        }
        for row in rows
    ]
    return {**SUCCESS, **_paged(params, total, len(listed)), "clients": {"client": listed}}


def _last_login(user: dict | None) -> str:
    """WHMCS's display string (GetClientsDetails `lastlogin`)."""
    if user is None or user["last_login_at"] is None:
        return "No Login Logged"
    return (
        f"Date: {user['last_login_at'].strftime('%d/%m/%Y %H:%M')}"
        f"<br>IP Address: {user['last_login_ip'] or ''}"
        f"<br>Host: {user['last_login_hostname'] or ''}"
    )


STATS_COUNTS = (
    "numdueinvoices", "numoverdueinvoices", "numDraftInvoices", "numunpaidinvoices",
    "numpaidinvoices", "numcancelledinvoices", "numrefundedinvoices", "numcollectionsinvoices",
    "numpaymentpendinginvoices", "productsnumactivehosting", "productsnumhosting",
    "productsnumactivereseller", "productsnumreseller", "productsnumactiveservers",
    "productsnumservers", "productsnumactiveother", "productsnumother", "productsnumactive",
    "productsnumtotal", "numactivedomains", "numdomains", "numacceptedquotes", "numquotes",
    "numtickets", "numactivetickets", "numaffiliatesignups",
)  # fmt: skip
STATS_AMOUNTS = (
    "dueinvoicesbalance", "creditbalance", "grossRevenue", "expenses", "income",
    "overdueinvoicesbalance", "draftInvoicesBalance", "unpaidinvoicesamount",
    "paidinvoicesamount", "cancelledinvoicesamount", "refundedinvoicesamount",
    "collectionsinvoicesamount", "paymentpendinginvoicesamount",
)  # fmt: skip
# Roster bills nothing: every count is 0 and every amount 0.00.
EMPTY_STATS = {
    **dict.fromkeys(STATS_COUNTS, 0),
    **dict.fromkeys(STATS_AMOUNTS, "0.00"),
    "incredit": False,
    "isAffiliate": False,
}


async def get_clients_details(params: Params, call: Call) -> dict:
    client: dict | None
    if params.has("clientid"):
        client = await _client(params, "clientid", "Client Not Found")
    elif params.has("email"):
        client = await clients.find_client_by_email(params.text("email"))
        if client is None:
            raise ApiError("Client Not Found")
    else:
        raise ApiError("Either clientid Or email Is Required")
    people = await clients.client_users(client["id"])
    owner = await users.get_user(client["owner"])
    details = {
        "client_id": client["id"],
        "owner_user_id": client["owner"],
        "userid": client["id"],
        "id": client["id"],
        "firstname": client["first_name"],
        "lastname": client["last_name"],
        "fullname": f"{client['first_name']} {client['last_name']}",
        "companyname": client["company_name"],
        "email": client["email"],
        "address1": client["address1"],
        "address2": client["address2"],
        "city": client["city"],
        "fullstate": client["state"],
        "state": client["state"],
        "statecode": client["state"],
        "postcode": client["postcode"],
        "countrycode": client["country"],
        "country": client["country"],
        "countryname": COUNTRY_NAMES.get(client["country"], ""),
        "phonenumber": client["phone_number"],
        "phonenumberformatted": client["phone_number"],
        "telephoneNumber": client["phone_number"],
        "tax_id": client["tax_id"],
        "status": client["status"],
        # Roster's: everyone with access must use two-factor authentication.
        "require_two_factor": bool(client["require_two_factor"]),
        "groupid": 0,
        "credit": "0.00",
        "language": owner["language"],
        "lastlogin": _last_login(owner),
        "email_verified": owner["email_verified_at"] is not None,  # the owner's current address
        "allowSingleSignOn": int(sso.signs_in(client)),  # an int, as WHMCS sends it
        "datecreated": client["created_at"].strftime("%Y-%m-%d"),
        "users": {
            "user": [
                {
                    "id": person["id"],
                    "name": f"{person['first_name']} {person['last_name']}",
                    "email": person["email"],
                    "is_owner": bool(person["is_owner"]),
                    "access_until": _instant_text(person["access_until"]),  # Roster's
                }
                for person in people
            ]
        },
    }
    # WHMCS repeats the client's fields at the top level (deprecated, kept for old callers).
    answer = {**details, **SUCCESS, "client": details}
    if params.bool("stats"):
        answer["stats"] = dict(EMPTY_STATS)
    return answer


async def _client_by_id_or_email(params: Params) -> dict:
    if params.has("clientid"):
        return await _client(params, "clientid", "Client ID Not Found")
    if params.has("clientemail"):
        client = await clients.find_client_by_email(params.text("clientemail"))
        if client is not None:
            return client
    raise ApiError("Client ID Not Found")


async def update_client(params: Params, call: Call) -> dict:
    client = await _client_by_id_or_email(params)
    email = None
    if params.has("email"):
        email = _email(params.text("email"), "The email address entered is not valid")
    await clients.update_client(
        client["id"],
        actor=call.caller.actor,
        company_name=params.text("companyname") if params.has("companyname") else None,
        first_name=params.text("firstname") or None,
        last_name=params.text("lastname") or None,
        email=email,
        status=_status(params.text("status")) if params.has("status") else None,
        contact=_contact(params, required=False) or None,
        require_two_factor=(
            params.bool("require_two_factor") if params.has("require_two_factor") else None
        ),
    )
    return {**SUCCESS, "clientid": str(client["id"])}


async def close_client(params: Params, call: Call) -> dict:
    client = await _client(params, "clientid", "Client ID Not Found")
    await clients.set_status(client["id"], "Closed", actor=call.caller.actor)
    return {**SUCCESS, "clientid": client["id"]}


async def delete_client(params: Params, call: Call) -> dict:
    client = await _client(params, "clientid", "Client ID Not Found")
    try:
        await clients.delete_client(
            client["id"], delete_users=params.bool("deleteusers"), actor=call.caller.actor
        )
    except NotFound:
        raise ApiError("Client ID Not Found") from None
    except DomainError as exc:
        raise ApiError(f"Client Delete Failed: {exc.message}") from None
    return {**SUCCESS, "clientid": str(client["id"])}


# --- activity log ----------------------------------------------------------------------------


def _day(value: str) -> date:
    """Y-m-d, or d/m/Y as WHMCS's default localised format writes it."""
    for layout in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    raise ApiError("Invalid date: use YYYY-MM-DD or DD/MM/YYYY")


async def get_activity_log(params: Params, call: Call) -> dict:
    start, size = params.page()
    client_id = None
    for name in ("clientid", "userid"):  # userid: the name before WHMCS 8.5
        if params.has(name):
            client_id = params.id(name, "Invalid client id")
            break
    total, rows = await activity.entries(
        client_id=client_id,
        user=params.text("user") or None,
        description=params.text("description") or None,
        ip=params.text("ipaddress") or None,
        day=_day(params.text("date")) if params.has("date") else None,
        offset=start,
        limit=size,
    )
    listed = [
        {
            "id": row["id"],
            "clientId": row["client_id"] or 0,
            "userId": row["user_id"] or 0,
            "adminId": (row["actor_id"] or 0) if row["actor_type"] == "admin" else 0,
            "date": _timestamp(row["created_at"]),
            "description": row["description"],
            "username": row["actor_name"],
            "ipaddress": row["ip"],
            "userid": row["client_id"] or 0,
        }
        for row in rows
    ]
    return {**SUCCESS, **_paged(params, total, len(listed)), "activity": {"entry": listed}}


class Action(NamedTuple):
    run: Callable[[Params, Call], Awaitable[dict]]
    permission: Permission  # what the credential's staff role must hold (app.core.policy)


# By lower-cased name: WHMCS matches action names case-insensitively.
ACTIONS = {
    "adduser": Action(add_user, Permission.MANAGE_USERS),
    "updateuser": Action(update_user, Permission.MANAGE_USERS),
    "getusers": Action(get_users, Permission.LIST_USERS),
    "resetpassword": Action(reset_password, Permission.MANAGE_USERS),
    "getpermissionslist": Action(get_permissions_list, Permission.STAFF),
    "getuserpermissions": Action(get_user_permissions, Permission.VIEW_ACCOUNT_USERS),
    "updateuserpermissions": Action(update_user_permissions, Permission.MANAGE_USERS),
    "deleteuserclient": Action(delete_user_client, Permission.MANAGE_USERS),
    "createclientinvite": Action(create_client_invite, Permission.MANAGE_USERS),
    "addclient": Action(add_client, Permission.MANAGE_USERS),
    "getclients": Action(get_clients, Permission.STAFF),
    "getclientsdetails": Action(get_clients_details, Permission.VIEW_ACCOUNT_USERS),
    "updateclient": Action(update_client, Permission.MANAGE_USERS),
    "closeclient": Action(close_client, Permission.MANAGE_USERS),
    "deleteclient": Action(delete_client, Permission.MANAGE_USERS),
    "getactivitylog": Action(get_activity_log, Permission.VIEW_ACCOUNT_USERS),
    # A link that signs a user in is a change made for them: what changes users needs.
    "createssotoken": Action(create_sso_token, Permission.MANAGE_USERS),
}
