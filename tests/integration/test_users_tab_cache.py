"""The Users tab's kept section (app.http.shared.account_users.kept_section): a repeated
render runs one statement and renders no section; any change to what the section shows, however it
is written (here: plain SQL, as another process or a later writer would), shows on the very next
request, because triggers replace clients.version in the writing transaction and the version is
read with the session; relative times and expiries are at most SECTION_CACHE_TTL old."""

from datetime import timedelta

from prometheus_client import REGISTRY

from app.core import clock
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.http.plumbing.kept import KeptCache
from app.http.shared import account_users as views
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


def section(response) -> str:
    assert response.status_code == 200
    return str(page(response).select_one("#account-users"))


async def sql(text: str, *args) -> None:
    """A write that goes around the services, as another process's would."""
    await Invitation.raw(text, *args)


async def test_a_repeated_render_runs_one_statement_and_shows_the_same(
    http, admin_session, count_queries
):
    client_id, _ = await make_client("Kept Hosting")
    await invitations.invite(client_id, "kept@example.com", ["quotes"], actor=ADMIN)
    url = f"/admin/clients/{client_id}/users"
    with count_queries() as first:
        miss = await http.get(url)
    with count_queries() as second:
        hit = await http.get(url)
    assert first.n == 3  # the viewer (with the account's version), its people, its invites
    assert second.n == 1  # the viewer: the version is the same, the section is kept
    assert hit.text == miss.text
    # A list alone (a search, a page) is kept under its own key.
    with count_queries() as part:
        people = await http.get(url, params={"part": "people"}, headers=HX)
    assert part.n == 2 and "<html" not in people.text
    with count_queries() as again:
        assert (await http.get(url, params={"part": "people"}, headers=HX)).text == people.text
    assert again.n == 1


async def test_every_change_to_what_the_section_shows_is_seen_on_the_next_request(
    http, admin_session
):
    client_id, owner = await make_client("Before Hosting")
    member = await make_user("Jo", "Walker", email="jo@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await invitations.invite(client_id, "pending@example.com", ["quotes"], actor=ADMIN)
    url = f"/admin/clients/{client_id}/users"
    before = section(await http.get(url))
    assert "Jo Walker" in before and "pending@example.com" in before

    changes = [
        # a user renamed, their email verified, a new login
        ('UPDATE users SET first_name = {} WHERE id = {}', ["Joanna", member["id"]], "Joanna"),
        (
            "UPDATE users SET email_verified_at = {} WHERE id = {}",
            [clock.now(), member["id"]],
            None,
        ),
        (
            "UPDATE users SET last_login_ip = {} WHERE id = {}",
            ["203.0.113.9", member["id"]],
            "203.0.113.9",
        ),
        # a grant's permissions
        (
            'UPDATE grants SET permissions = {} WHERE "user" = {}',
            ["invoices", member["id"]],
            "Invoices",
        ),
        # an invitation email that failed
        (
            "UPDATE outbound_emails SET last_error = {} WHERE invitation IS NOT NULL",
            ["550 no such mailbox"],
            "Delivery failed",
        ),
        # an invite added
        (
            "INSERT INTO invitations (client, email, email_key, token_hash, permissions, "
            "invited_by_admin, invited_by_user, sender_name, created_at, expires_at, "
            "last_sent_at, times_sent) "
            "SELECT client, {}, {}, {}, permissions, invited_by_admin, invited_by_user, "
            "sender_name, created_at, expires_at, last_sent_at, times_sent "
            "FROM invitations WHERE client = {}",
            ["second@example.com", "second@example.com", "f" * 64, client_id],
            "second@example.com",
        ),
        # the account renamed (its name is in the section's confirmations)
        ("UPDATE clients SET company_name = {} WHERE id = {}", ["After Hosting", client_id],
         "After Hosting"),
    ]  # fmt: skip
    shown = before
    for statement, args, expected in changes:
        await sql(statement, *args)
        now_shown = section(await http.get(url))
        assert now_shown != shown, statement
        if expected:
            assert expected in now_shown, statement
        shown = now_shown
    # a grant removed
    await sql('DELETE FROM grants WHERE "user" = {}', member["id"])
    assert f"user-{member['id']}" not in section(await http.get(url))
    assert f"user-{owner['id']}" in section(await http.get(url))


async def test_relative_times_are_at_most_ten_seconds_old(
    http, admin_session, monkeypatch, count_queries
):
    client_id, _ = await make_client("Timely Hosting")
    await invitations.invite(client_id, "timely@example.com", ["quotes"], actor=ADMIN)
    url = f"/admin/clients/{client_id}/users"
    start = clock.now()
    assert "Invite Sent: just now" in section(await http.get(url))
    for seconds, statements in ((5, 1), (11, 3), (71, 3)):
        at = start + timedelta(seconds=seconds)
        monkeypatch.setattr(clock, "now", lambda at=at: at)
        with count_queries() as counted:
            shown = section(await http.get(url))
        assert counted.n == statements, seconds  # kept within 10 s, rendered again after
    assert "Invite Sent: 1 minute ago" in shown


async def test_an_invite_shows_expired_as_soon_as_it_expires(http, admin_session, monkeypatch):
    client_id, _ = await make_client("Expiring Hosting")
    await invitations.invite(client_id, "soon@example.com", ["quotes"], actor=ADMIN)
    start = clock.now()
    await Invitation.update({Invitation.expires_at: start + timedelta(seconds=3)}).where(
        Invitation.client == client_id
    )
    url = f"/admin/clients/{client_id}/users"
    assert "badge-expired" not in section(await http.get(url))
    after = start + timedelta(seconds=4)  # within the cache's 10 s, past the expiry
    monkeypatch.setattr(clock, "now", lambda: after)
    assert "badge-expired" in section(await http.get(url))


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    now = clock.now()
    until = now + timedelta(seconds=10)

    def kept(size: int) -> views.KeptSection:
        return views.KeptSection({}, "", b"x" * size, until)

    def lookups(result: str) -> float:
        labels = {"cache": "test", "result": result}
        return REGISTRY.get_sample_value("roster_kept_lookups_total", labels) or 0.0

    hits_before, misses_before = lookups("hit"), lookups("miss")
    cache = KeptCache("test", max_bytes=300, max_entries=3)
    a = kept(100)
    cache.put("a", a, until)
    cache.put("b", kept(100), until)
    assert cache.get("a", now) is a  # a is now the most recent
    cache.put("c", kept(100), until)
    assert cache.bytes == 300 and len(cache.entries) == 3
    cache.put("d", kept(50), until)  # past the budget: the least recent goes
    assert cache.get("b", now) is None and cache.get("a", now) is a
    assert cache.bytes == 250
    assert cache.get("a", until) is None  # expired
    assert cache.bytes == 150
    many = KeptCache("test", max_bytes=10_000, max_entries=2)
    for n in range(5):
        many.put(n, kept(1), until)
    assert list(many.entries) == [3, 4] and many.bytes == 2
    # Every lookup is counted, so a benchmark can say that nothing kept answered it.
    assert (lookups("hit") - hits_before, lookups("miss") - misses_before) == (2, 2)
