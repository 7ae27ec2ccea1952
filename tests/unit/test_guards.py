"""Guards are pure functions of the viewer (coroutines that never wait): tested with plain
fakes, no HTTP, no database."""

from types import SimpleNamespace

import pytest
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from app.auth.services import Viewer
from app.web import guards


def connection(**viewer) -> SimpleNamespace:
    return SimpleNamespace(scope={"state": {"viewer": Viewer(**viewer)}})


USER = {"id": 7, "first_name": "Jo", "last_name": "W", "email": "jo@example.com"}
CLIENT = {"id": 3, "display_name": "Acme", "status": "Active"}


async def test_anonymous_is_sent_to_login():
    with pytest.raises(NotAuthorizedException):
        await guards.user_required(connection())
    with pytest.raises(NotAuthorizedException):
        await guards.admin_required(connection())


async def test_a_user_without_a_current_account_must_choose_one():
    with pytest.raises(guards.ChooseAccount):
        await guards.account_required(connection(user=USER))
    await guards.account_required(connection(user=USER, client=CLIENT, permissions=("tickets",)))


async def test_only_the_owner_passes_the_owner_guard():
    with pytest.raises(PermissionDeniedException):
        await guards.owner_required(connection(user=USER, client=CLIENT, permissions=("profile",)))
    await guards.owner_required(connection(user=USER, client=CLIENT, is_owner=True))


async def test_permission_guard_checks_the_key():
    guard = guards.permission_required("profile")
    with pytest.raises(PermissionDeniedException):
        await guard(connection(user=USER, client=CLIENT, permissions=("tickets",)))
    await guard(connection(user=USER, client=CLIENT, permissions=("profile",)))


async def test_a_user_session_is_not_an_admin_session():
    with pytest.raises(NotAuthorizedException):
        await guards.admin_required(connection(user=USER, client=CLIENT, is_owner=True))


async def test_support_operators_can_look_but_not_manage():
    support = connection(admin={"id": 1, "name": "Sam", "email": "s@x.io", "role": "support"})
    full = connection(admin={"id": 2, "name": "Ada", "email": "a@x.io", "role": "full"})
    await guards.admin_permission("view_account_users")(support)
    await guards.admin_permission("list_users")(support)
    for key in ("manage_users", "delete_users"):
        with pytest.raises(PermissionDeniedException):
            await guards.admin_permission(key)(support)
        await guards.admin_permission(key)(full)


def test_guards_run_on_the_event_loop_not_in_a_thread_pool():
    from litestar.utils import is_async_callable

    for guard in (
        guards.user_required,
        guards.account_required,
        guards.owner_required,
        guards.admin_required,
        guards.permission_required("profile"),
        guards.admin_permission("list_users"),
    ):
        assert is_async_callable(guard)
