"""Big accounts: the Users tab and User Management stay small and cheap at 1,000
users: three statements per render whatever the size, pages of 25 (owner first), a search
within the account, and pages of pending invites."""

import pytest

from app.core import clock
from app.core.validation import email_key
from app.domain.invitations import services as invitations
from app.schema.grants import Grant
from app.schema.users import User, user_keys
from tests.factories import ADMIN, make_client
from tests.integration.conftest import page

HX = {"HX-Request": "true"}
PAGE = 25


async def add_people(client_id: int, count: int, prefix: str = "bulk") -> None:
    """`count` users with access to the account, inserted in two statements (no hashing)."""
    now = clock.now()
    users = [
        User(
            first_name=f"{prefix.title()}{n}",
            last_name="Person",
            email=f"{prefix}{n}@example.com",
            email_key=email_key(f"{prefix}{n}@example.com"),
            password_hash="not-a-hash",
            created_at=now,
            **user_keys(f"{prefix.title()}{n}", "Person", email_key(f"{prefix}{n}@example.com")),
        )
        for n in range(count)
    ]
    ids = [row["id"] for row in await User.insert(*users).returning(User.id)]
    await Grant.insert(
        *[
            Grant(user=i, client=client_id, permissions="tickets", created_at=now, updated_at=now)
            for i in ids
        ]
    )


def user_rows(response) -> list[str]:
    return [row["id"] for row in page(response).select("#account-people tbody tr[id^=user-]")]


@pytest.fixture
async def owner(http):
    client_id, owner = await make_client("Big Hosting", owner_email="fiona@example.com")
    return client_id, owner


@pytest.mark.parametrize("viewer", ["admin", "owner"])
async def test_a_render_runs_three_statements_at_one_and_a_thousand_users(
    http, admin_session, owner, count_queries, viewer
):
    client_id, _ = owner
    await invitations.invite(client_id, "first@example.com", ["quotes"], actor=ADMIN)
    url = f"/admin/clients/{client_id}/users"
    if viewer == "owner":
        http.cookies.clear()
        await http.login("fiona@example.com")
        url = "/account/users"

    async def statements() -> int:
        with count_queries() as counted:
            response = await http.get(url)
        assert response.status_code == 200
        return counted.n, len(response.content)

    one, _ = await statements()
    assert one <= 3  # the viewer; the account with a page of its users; a page of its invites
    await add_people(client_id, 999)
    thousand, size = await statements()
    assert thousand == one
    assert size <= 100_000


async def test_pages_of_users_show_everyone_once_owner_first(http, admin_session, owner):
    client_id, owner_user = owner
    await add_people(client_id, 60)
    first = await http.get(f"/admin/clients/{client_id}/users")
    rows = user_rows(first)
    assert len(rows) == PAGE and rows[0] == f"user-{owner_user['id']}"
    assert "25 shown of 61 users" in page(first).select_one("#account-people nav").get_text(" ")
    seen = list(rows)
    link = page(first).select_one("#account-people a[rel=next]")
    while link is not None:
        response = await http.get(link["hx-get"], headers=HX)
        assert response.status_code == 200
        assert "<html" not in response.text  # only the list, never a page in a fragment
        assert page(response).select_one("#account-people")
        seen += user_rows(response)
        link = page(response).select_one("a[rel=next]")
    assert len(seen) == 61 == len(set(seen))
    assert f"user-{owner_user['id']}" not in seen[1:]


async def test_a_search_within_the_account_matches_the_start_of_names_and_emails(
    http, admin_session, owner
):
    client_id, _ = owner
    await add_people(client_id, 30)
    await add_people(client_id, 2, prefix="zed")
    response = await http.get(
        f"/admin/clients/{client_id}/users", params={"part": "people", "q": "ZED"}, headers=HX
    )
    assert len(user_rows(response)) == 2
    response = await http.get(
        f"/admin/clients/{client_id}/users", params={"part": "people", "q": "bulk2"}, headers=HX
    )
    assert len(user_rows(response)) == 11  # bulk2 and bulk20..bulk29
    none = await http.get(
        f"/admin/clients/{client_id}/users", params={"part": "people", "q": "ulk"}, headers=HX
    )
    assert user_rows(none) == [] and "starting with “ulk”" in none.text
    # Another account's people never show.
    other_id, _ = await make_client("Other")
    await add_people(other_id, 3, prefix="zed-other")
    response = await http.get(
        f"/admin/clients/{client_id}/users", params={"part": "people", "q": "zed"}, headers=HX
    )
    assert len(user_rows(response)) == 2


async def test_pending_invites_come_in_pages(http, owner):
    client_id, _ = owner
    for n in range(PAGE + 5):
        await invitations.invite(client_id, f"inv{n}@example.com", ["quotes"], actor=ADMIN)
    await http.login("fiona@example.com")
    first = await http.get("/account/users")
    invites = page(first).select("#account-invites tbody tr[id^=invite-]")
    assert len(invites) == PAGE
    link = page(first).select_one("#account-invites a[rel=next]")
    rest = await http.get(link["hx-get"], headers=HX)
    more = page(rest).select("#account-invites tbody tr[id^=invite-]")
    assert len(more) == 5 and not page(rest).select_one("a[rel=next]")
    assert {r["id"] for r in invites}.isdisjoint({r["id"] for r in more})


@pytest.mark.parametrize("query", ["after=-1", "after=2147483648", "invites_after=99999999999"])
async def test_a_page_outside_the_id_range_is_not_found(http, admin_session, owner, query):
    client_id, _ = owner
    response = await http.get(f"/admin/clients/{client_id}/users?{query}")
    assert response.status_code == 404


async def test_rows_rendered_for_one_viewer_never_show_another_what_is_not_theirs(http, owner):
    """Rows are rendered once and reused (app.http.plumbing.render.cached_row): who may act, the
    area and the times shown are part of what a row is cached by."""
    from tests.integration.conftest import log_in_as_staff

    client_id, _ = owner
    await add_people(client_id, 3)
    url = f"/admin/clients/{client_id}/users"
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    full = page(await http.get(url))
    assert len(full.select("#account-people button[id^=perm-]")) == 3
    http.cookies.clear()
    await log_in_as_staff(http, "sam@example.com", "support-passphrase-7", "Sam", "support")
    support = page(await http.get(url))
    assert support.select("#account-people button[id^=perm-]") == []
    assert len(support.select("#account-people td")) and "View only" in support.get_text()
    http.cookies.clear()
    await http.login("fiona@example.com")
    owners = page(await http.get("/account/users"))
    assert len(owners.select("#account-people button[id^=perm-]")) == 3
    assert not owners.select("#account-people a[href^='/admin/users/']")  # the client area's rows


async def test_a_search_within_the_account_takes_a_whole_address_or_an_id(
    http, admin_session, owner
):
    """A whole email address finds that person only, `#id` that user; before, both read as no
    words at all and listed everyone."""
    client_id, _ = owner
    await add_people(client_id, 30)
    url = f"/admin/clients/{client_id}/users"
    exact = await http.get(url, params={"part": "people", "q": "BULK1@example.com"}, headers=HX)
    (row,) = user_rows(exact)
    assert "bulk1@example.com" in page(exact).select_one(f"#{row}").get_text()
    user_id = int(row.removeprefix("user-"))
    by_id = await http.get(url, params={"part": "people", "q": f"#{user_id}"}, headers=HX)
    assert user_rows(by_id) == [row]
    stranger = await http.get(url, params={"part": "people", "q": "#999999"}, headers=HX)
    assert user_rows(stranger) == []


@pytest.mark.parametrize("query", ["bulk\x00", "a" * 101, "\u202ebulk"])
async def test_a_search_within_the_account_refuses_bad_input_plainly(
    http, admin_session, owner, query
):
    client_id, _ = owner
    response = await http.get(
        f"/admin/clients/{client_id}/users", params={"part": "people", "q": query}, headers=HX
    )
    assert 400 <= response.status_code < 500
    assert response.headers.get("hx-reswap") == "none"  # the list stays as it was


async def test_a_search_reads_only_the_users_and_a_plain_request_gets_the_whole_page(
    http, admin_session, owner, count_queries
):
    client_id, _ = owner
    await invitations.invite(client_id, "first@example.com", ["quotes"], actor=ADMIN)
    url = f"/admin/clients/{client_id}/users"
    with count_queries() as counted:
        people = await http.get(url, params={"part": "people", "q": "oli"}, headers=HX)
    assert counted.n == 2  # the viewer, the account with its matching users: no invites
    assert user_rows(people) and not page(people).select("#account-invites")
    whole = await http.get(url, params={"part": "people", "q": "oli"})  # no htmx: the page
    assert page(whole).select("#account-invites tr[id^=invite-]")
