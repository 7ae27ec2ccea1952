"""One permission map (app.core.policy): every web route, every /api/v1 operation and every
WHMCS action names exactly one permission, and doing the same thing another way needs the same
one. Read from the built apps, not from the source."""

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from app.core.policy import ROLES, STAFF_PERMISSIONS, Permission, role_allows
from app.http.api.app import PREFIX, create_api_app
from app.http.plumbing.guards import authorize
from app.http.whmcs.actions import ACTIONS


def _handlers(app: Litestar) -> dict[str, object]:
    """'METHOD /path' -> handler, for every route but Litestar's own OPTIONS answers."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                found[f"{method} {route.path}"] = handler
    return found


@pytest.fixture(scope="module")
def web() -> dict[str, object]:
    from app.asgi import create_app

    return _handlers(create_app(run_workers=False, manage_database=False))


@pytest.fixture(scope="module")
def api_app() -> Litestar:
    return create_api_app(production=False)


@pytest.fixture(scope="module")
def api(api_app) -> dict[str, object]:
    return {
        key.replace(f" {PREFIX}", " "): handler
        for key, handler in _handlers(api_app).items()
        if not key.split(" ")[1].startswith(f"{PREFIX}/schema")
    }


def test_every_web_route_names_one_permission(web):
    assert len(web) > 60 and "GET /admin/users" in web
    assert {k: h.opt.get("permission") for k, h in web.items() if not _named(h)} == {}


def test_every_api_operation_names_one_permission(api, api_app):
    assert len(api) > 15 and "DELETE /users/{user_id:int}" in api
    assert {k: h.opt.get("permission") for k, h in api.items() if not _named(h)} == {}
    # Every operation of the OpenAPI document is one of them.
    document = api_app.openapi_schema.to_schema()
    operations = {
        f"{method.upper()} {path.removeprefix(PREFIX)}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert len(operations) == len(api)
    for operation in operations:
        method, path = operation.split(" ")
        assert any(
            key.split(" ")[0] == method and _same_path(key.split(" ")[1], path) for key in api
        ), operation


def test_every_whmcs_action_names_one_permission():
    assert len(ACTIONS) >= 16
    assert {
        name: a.permission
        for name, a in ACTIONS.items()
        if not isinstance(a.permission, Permission)
    } == {}
    # The WHMCS API is for API credentials: staff permissions only.
    assert all(
        a.permission is Permission.STAFF or a.permission in STAFF_PERMISSIONS
        for a in ACTIONS.values()
    )


# The same thing done on a page, through /api/v1 and through /includes/api.php (None: that way
# does not offer it).
SAME_THING = [
    ("POST /admin/clients", "POST /clients", "addclient"),
    ("GET /admin/clients", "GET /clients", "getclients"),
    (
        "GET /admin/clients/{client_id:int}/profile",
        "GET /clients/{client_id:int}",
        "getclientsdetails",
    ),
    (
        "POST /admin/clients/{client_id:int}/profile",
        "PATCH /clients/{client_id:int}",
        "updateclient",
    ),
    ("POST /admin/clients/{client_id:int}/status", None, "closeclient"),
    (None, "DELETE /clients/{client_id:int}", "deleteclient"),
    ("GET /admin/users", "GET /users", "getusers"),
    ("GET /admin/users/{user_id:int}", "GET /users/{user_id:int}", None),
    ("POST /admin/users/{user_id:int}", "PATCH /users/{user_id:int}", "updateuser"),
    ("POST /admin/users/{user_id:int}/delete", "DELETE /users/{user_id:int}", None),
    ("POST /admin/users/{user_id:int}/password-reset", None, "resetpassword"),
    (
        "GET /admin/clients/{client_id:int}/users",
        "GET /clients/{client_id:int}/users",
        "getuserpermissions",
    ),
    ("POST /admin/clients/{client_id:int}/associate", "POST /clients/{client_id:int}/users", None),
    (
        "POST /admin/clients/{client_id:int}/users/{user_id:int}/permissions",
        "PUT /clients/{client_id:int}/users/{user_id:int}",
        "updateuserpermissions",
    ),
    (
        "POST /admin/clients/{client_id:int}/users/{user_id:int}/remove",
        "DELETE /clients/{client_id:int}/users/{user_id:int}",
        "deleteuserclient",
    ),
    (None, "POST /clients/{client_id:int}/invitations", "createclientinvite"),
    (
        "POST /admin/clients/{client_id:int}/invites/{invitation_id:int}/resend",
        "POST /clients/{client_id:int}/invitations/{invitation_id:int}/resend",
        None,
    ),
    (
        "POST /admin/clients/{client_id:int}/invites/{invitation_id:int}/cancel",
        "DELETE /clients/{client_id:int}/invitations/{invitation_id:int}",
        None,
    ),
    ("GET /admin/activity", None, "getactivitylog"),
    (None, "GET /permissions", "getpermissionslist"),
    (None, "POST /users", "adduser"),
    (None, "POST /users/{user_id:int}/sso-tokens", "createssotoken"),
]


@pytest.mark.parametrize("ways", SAME_THING, ids=lambda ways: next(w for w in ways if w))
def test_the_same_thing_needs_the_same_permission_every_way(ways, web, api):
    web_route, api_operation, whmcs_action = ways
    needed = {}
    if web_route:
        needed["web"] = web[web_route].opt["permission"]
    if api_operation:
        needed["api"] = api[api_operation].opt["permission"]
    if whmcs_action:
        needed["whmcs"] = ACTIONS[whmcs_action].permission
    assert len(needed) >= 2 and len(set(needed.values())) == 1, needed


def test_deleting_a_user_needs_delete_users_every_way(web, api):
    assert (
        web["POST /admin/users/{user_id:int}/delete"].opt["permission"] is Permission.DELETE_USERS
    )
    assert api["DELETE /users/{user_id:int}"].opt["permission"] is Permission.DELETE_USERS


def test_the_roles():
    assert ROLES["full"].permissions == frozenset(STAFF_PERMISSIONS)
    support = ROLES["support"].label, ROLES["support"].permissions
    assert support == (
        "Support Operator",
        {Permission.VIEW_ACCOUNT_USERS, Permission.VIEW_INVITE_DELIVERY, Permission.LIST_USERS},
    )
    assert role_allows("support", Permission.STAFF) and not role_allows(
        "support", Permission.MANAGE_USERS
    )
    assert not role_allows("full", Permission.ACCOUNT_OWNER)  # a role holds no client-area one
    assert not role_allows("no-such-role", Permission.LIST_USERS)


async def test_a_route_that_names_no_permission_is_refused():
    @get("/named", permission=Permission.PUBLIC)
    async def named() -> str:
        return "ok"

    @get("/unnamed")
    async def unnamed() -> str:
        return "ok"

    async with AsyncTestClient(Litestar([named, unnamed], guards=[authorize])) as client:
        assert (await client.get("/named")).status_code == 200
        assert (await client.get("/unnamed")).status_code == 403


def _named(handler) -> bool:
    return isinstance(handler.opt.get("permission"), Permission)


def _same_path(template: str, openapi_path: str) -> bool:
    """'/users/{user_id:int}' (Litestar) is '/users/{user_id}' (OpenAPI)."""
    return template.replace(":int}", "}").replace(":str}", "}") == openapi_path
