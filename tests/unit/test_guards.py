"""The route check is a pure function of the viewer and the route's permission (a coroutine
that never waits): tested with plain fakes, no HTTP, no database."""

from types import SimpleNamespace

import pytest
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from app.core.errors import NoCurrentAccount, NotSignedIn
from app.core.policy import Permission
from app.domain.auth.services import Viewer
from app.http.plumbing import guards


def connection(**viewer) -> SimpleNamespace:
    return SimpleNamespace(scope={"state": {"viewer": Viewer(**viewer)}})


USER = {"id": 7, "first_name": "Jo", "last_name": "W", "email": "jo@example.com"}
CLIENT = {"id": 3, "display_name": "Acme", "status": "Active"}


async def test_anonymous_is_sent_to_login():
    with pytest.raises(NotAuthorizedException):
        await guards.check(connection(), Permission.SIGNED_IN)
    with pytest.raises(NotAuthorizedException):
        await guards.check(connection(), Permission.STAFF)


async def test_a_user_without_a_current_account_must_choose_one():
    with pytest.raises(guards.ChooseAccount):
        await guards.check(connection(user=USER), Permission.ACCOUNT_MEMBER)
    member = connection(user=USER, client=CLIENT, permissions=("tickets",))
    await guards.check(member, Permission.ACCOUNT_MEMBER)


async def test_only_the_owner_passes_the_owner_guard():
    with pytest.raises(PermissionDeniedException):
        member = connection(user=USER, client=CLIENT, permissions=("profile",))
        await guards.check(member, Permission.ACCOUNT_OWNER)
    owner = connection(user=USER, client=CLIENT, is_owner=True)
    await guards.check(owner, Permission.ACCOUNT_OWNER)


async def test_permission_guard_checks_the_key():
    with pytest.raises(PermissionDeniedException):
        tickets = connection(user=USER, client=CLIENT, permissions=("tickets",))
        await guards.check(tickets, Permission.ACCOUNT_PROFILE)
    profile = connection(user=USER, client=CLIENT, permissions=("profile",))
    await guards.check(profile, Permission.ACCOUNT_PROFILE)


async def test_an_account_requiring_two_factor_refuses_every_account_permission():
    """The owner too; what needs no account (the Security page, Choose Account) still passes."""
    for extra in ({}, {"is_owner": True}, {"permissions": ("profile",)}):
        without = connection(user=USER, client=CLIENT, must_enrol_for_account=True, **extra)
        for permission in (
            Permission.ACCOUNT_MEMBER,
            Permission.ACCOUNT_OWNER,
            Permission.ACCOUNT_PROFILE,
        ):
            with pytest.raises(guards.EnrolTwoFactor, match="Acme requires everyone"):
                await guards.check(without, permission)
        await guards.check(without, Permission.SIGNED_IN)
    enrolled = connection(user=USER, client=CLIENT, is_owner=True)
    await guards.check(enrolled, Permission.ACCOUNT_OWNER)


async def test_a_user_session_is_not_an_admin_session():
    with pytest.raises(NotAuthorizedException):
        owner = connection(user=USER, client=CLIENT, is_owner=True)
        await guards.check(owner, Permission.STAFF)


async def test_support_operators_can_look_but_not_manage():
    support = connection(admin={"id": 1, "name": "Sam", "email": "s@x.io", "role": "support"})
    full = connection(admin={"id": 2, "name": "Ada", "email": "a@x.io", "role": "full"})
    await guards.check(support, Permission.VIEW_ACCOUNT_USERS)
    await guards.check(support, Permission.LIST_USERS)
    for permission in (Permission.MANAGE_USERS, Permission.DELETE_USERS):
        with pytest.raises(PermissionDeniedException):
            await guards.check(support, permission)
        await guards.check(full, permission)


async def test_staff_are_not_client_users():
    full = connection(admin={"id": 2, "name": "Ada", "email": "a@x.io", "role": "full"})
    for permission in (Permission.SIGNED_IN, Permission.ACCOUNT_OWNER):
        with pytest.raises(NotAuthorizedException):
            await guards.check(full, permission)
    await guards.check(connection(), Permission.PUBLIC)


def test_guards_run_on_the_event_loop_not_in_a_thread_pool():
    from litestar.utils import is_async_callable

    assert is_async_callable(guards.authorize)


def test_the_viewer_hands_over_what_a_permission_guarantees_or_refuses():
    member = Viewer(session_id=5, user=USER, client=CLIENT)
    assert member.signed_in_user is USER and member.current_client is CLIENT
    assert member.current_session_id == 5
    for read in ("signed_in_user", "signed_in_admin", "current_session_id"):
        with pytest.raises(NotSignedIn):
            getattr(Viewer(), read)
    with pytest.raises(NoCurrentAccount):
        assert Viewer(session_id=5, user=USER).current_client
