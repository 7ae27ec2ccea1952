"""A Users tab's answer kept and sent again before Litestar's layers (app.http.plumbing.kept, issue
#13): the same bytes and headers for the same request, never for another request, staff member,
session or encoding, and never past the route's permission or the account's next change."""

import asyncio

import pytest

from app.core import policy
from app.domain.invitations import services as invitations
from app.http.plumbing.kept import ANSWERS
from app.http.shared import account_users as views
from app.schema.sessions import Session
from app.schema.staff import Admin
from tests.factories import ADMIN, make_client
from tests.integration.conftest import page

SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options")


@pytest.fixture
async def users_tab(admin_session):
    ANSWERS.clear()  # the process's answers: only this test's from here on
    client_id, _ = await make_client("Kept Answers Hosting")
    await invitations.invite(client_id, "kept@example.com", ["quotes"], actor=ADMIN)
    return f"/admin/clients/{client_id}/users"


@pytest.fixture
def renders(monkeypatch):
    """How many times the Users tab's handler ran (it always asks for the section)."""
    calls = []
    kept_section = views.kept_section

    async def counted(*args, **kwargs):
        calls.append(kwargs.get("part", ""))
        return await kept_section(*args, **kwargs)

    monkeypatch.setattr(views, "kept_section", counted)
    return calls


def headers_of(response) -> dict:
    return {k: v for k, v in response.headers.items() if k != "x-request-id"}


async def test_a_kept_answer_is_sent_again_as_it_was(http, users_tab, renders):
    first = await http.get(users_tab)
    again = await http.get(users_tab)
    assert first.status_code == again.status_code == 200
    assert len(renders) == 1  # the second never reached the handler
    assert again.content == first.content and "kept@example.com" in again.text
    assert headers_of(again) == headers_of(first)
    for name in SECURITY:
        assert again.headers[name]
    assert again.headers["cache-control"] == "no-store"  # a logged-in page
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    head = await http.client.head(users_tab)
    assert head.status_code == 200 and head.content == b"" and len(renders) == 1
    assert head.headers["content-length"] == first.headers["content-length"]
    # A fragment (a live update, a search) is its own request and its own answer.
    people = await http.get(users_tab, params={"part": "people"}, headers={"HX-Request": "true"})
    assert "<html" not in people.text and renders == ["", "people"]
    assert (
        await http.get(users_tab, params={"part": "people"}, headers={"HX-Request": "true"})
    ).content == people.content
    assert renders == ["", "people"]


async def test_each_encoding_has_its_own_answer(http, users_tab, renders):
    brotli = await http.get(users_tab, headers={"Accept-Encoding": "br"})
    assert brotli.headers["content-encoding"] == "br"
    plain = await http.get(users_tab, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(renders) == 2
    brotli_again = await http.get(users_tab, headers={"Accept-Encoding": "br"})
    assert brotli_again.headers["content-encoding"] == "br" and len(renders) == 2
    assert brotli_again.text == brotli.text == plain.text
    assert "Accept-Encoding" in brotli_again.headers["vary"]


async def test_a_change_to_the_account_is_shown_at_once(http, users_tab, renders):
    await http.get(users_tab)
    client_id = int(users_tab.split("/")[3])
    await invitations.invite(client_id, "second@example.com", ["quotes"], actor=ADMIN)
    assert "second@example.com" in (await http.get(users_tab)).text
    assert len(renders) == 2


async def test_another_csrf_token_or_staff_member_gets_its_own_answer(http, users_tab, renders):
    first = await http.get(users_tab)
    http.cookies.set("roster_csrf", "another-token", domain="testserver.local")
    other = await http.get(users_tab)
    assert len(renders) == 2
    assert 'value="another-token"' in other.text or "another-token" in other.text
    assert "another-token" not in first.text
    # The staff member's name changes the page (its admin bar): not the kept answer.
    await Admin.update({Admin.name: "Ada Renamed"}).where(Admin.email == "ada@example.com")
    renamed = await http.get(users_tab)
    assert len(renders) == 3 and "Ada Renamed" in renamed.text


async def test_the_routes_permission_is_checked_on_every_answer(
    http, users_tab, renders, monkeypatch
):
    assert (await http.get(users_tab)).status_code == 200
    without = dict(policy.ROLES)
    name, permissions = without["full"]
    without["full"] = policy.Role(name, permissions - {policy.Permission.VIEW_ACCOUNT_USERS})
    monkeypatch.setattr(policy, "ROLES", without)
    refused = await http.get(users_tab)
    assert refused.status_code == 403 and "kept@example.com" not in refused.text


async def test_an_ended_session_is_never_answered(http, users_tab, renders):
    assert (await http.get(users_tab)).status_code == 200
    await Session.delete(force=True)
    gone = await http.get(users_tab)
    assert gone.status_code in (303, 401) and "kept@example.com" not in gone.text


async def test_an_answer_that_sets_a_cookie_is_not_kept(http, users_tab, renders):
    """Without a CSRF cookie each answer sets a new one: sent again, two would share it."""
    session = http.cookies.get("roster_session")
    only_session = {"cookie": f"roster_session={session}"}
    first = await http.client.get(users_tab, headers=only_session)
    second = await http.client.get(users_tab, headers=only_session)
    assert len(renders) == 2
    tokens = [r.cookies.get("roster_csrf") for r in (first, second)]
    assert all(tokens) and tokens[0] != tokens[1]
    assert page(second).select_one("#account-users") is not None


async def test_the_same_page_asked_twice_at_once_is_kept_once(http, users_tab, renders):
    first, second = await asyncio.gather(http.get(users_tab), http.get(users_tab))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    kept = [key for key in ANSWERS.entries if key[0] == users_tab]
    assert len(kept) == 1
    assert (await http.get(users_tab)).content == first.content
    assert len(renders) <= 2  # each of the two at once may render; the third never does


async def test_bad_input_is_answered_each_time_and_never_kept(http, users_tab, renders):
    for query in ("after=abc", "invites_after=99999999999", "q=a%00b&part=people"):
        answers = [await http.get(f"{users_tab}?{query}") for _ in range(2)]
        assert answers[0].status_code == answers[1].status_code
        if answers[0].status_code != 200:
            assert not [k for k in ANSWERS.entries if k[1] == query.encode()], query


async def test_a_database_that_stops_answering_is_never_hidden_by_a_kept_answer(
    http, users_tab, renders, monkeypatch
):
    from app.core import db

    assert (await http.get(users_tab)).status_code == 200

    async def refused(*_args):
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(db, "fetch_quick", refused)
    stopped = await http.get(users_tab)
    assert stopped.status_code == 503 and "kept@example.com" not in stopped.text


async def test_an_answer_that_fails_after_the_handler_vouched_for_it_is_not_kept(
    http, users_tab, renders, monkeypatch
):
    from app.http.admin import account_users as controllers

    render = controllers.render

    def broken(*_args, **_kwargs):
        raise RuntimeError("the page around the section failed")

    monkeypatch.setattr(controllers, "render", broken)
    assert (await http.get(users_tab)).status_code == 500
    monkeypatch.setattr(controllers, "render", render)
    again = await http.get(users_tab)
    assert again.status_code == 200 and "kept@example.com" in again.text


async def test_a_kept_answer_is_never_sent_in_a_refused_coding(http, users_tab, renders):
    for _ in range(2):  # rendered, then kept
        gzipped = await http.get(users_tab, headers={"Accept-Encoding": "br;q=0, gzip"})
        assert gzipped.headers["content-encoding"] == "gzip"
        plain = await http.get(users_tab, headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
        assert "content-encoding" not in plain.headers
        assert gzipped.text == plain.text
    assert len(renders) == 2
