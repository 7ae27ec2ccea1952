"""The activity log as staff read it: permission labels (never the stored keys), a heading per
day, and one row per change."""

from datetime import timedelta

from app.core import clock
from app.core.permissions import ALL_KEYS, LABELS
from app.domain.access import services as access
from app.domain.activity.present import describe, long_date
from app.domain.activity.services import write_entry
from app.domain.invitations import services as invitations
from app.schema.activity import ActivityEntry
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page

KEYS_IN_TEXT = [k for k in ALL_KEYS if k not in ("profile", "contacts", "emails", "orders")]


def rows_of(response):
    return page(response).select("tr[id^=entry-]")


def what(row) -> str:
    return row.find(class_="activity-description").get_text(" ", strip=True)


async def test_permissions_read_as_labels_for_new_and_old_entries(http, admin_session):
    client_id, _ = await make_client("Acme")
    member = await make_user("Jo", "Walker")
    await access.grant_access(
        client_id, member["id"], ["manageproducts", "productsso", "invoices"], actor=ADMIN
    )
    await access.update_permissions(
        client_id, member["id"], ["manageproducts", "domains", "invoices"], actor=ADMIN
    )
    await invitations.invite(client_id, "guest@example.com", ["managedomains"], actor=ADMIN)
    # An entry written before labels were shown: its stored text holds the keys.
    await write_entry(
        ADMIN,
        "access.granted",
        "Gave Jo Walker access to Acme: none -> " + ", ".join(ALL_KEYS),
        client_id=client_id,
        user_id=member["id"],
    )
    await access.revoke_access(client_id, member["id"], actor=ADMIN)

    response = await http.get(f"/admin/activity?client_id={client_id}")
    assert response.status_code == 200
    shown = [what(r) for r in rows_of(response)]
    assert shown[:5] == [
        "Removed the access of Jo Walker to Acme (had View & Modify Product Passwords, "
        "View Domains, View & Pay Invoices)",
        "Gave Jo Walker access to Acme: all 13 permissions",
        f"Invited guest@example.com to Acme with {LABELS['managedomains']}",
        "Permissions of Jo Walker on Acme: added View Domains; removed Perform Single Sign-On",
        "Gave Jo Walker access to Acme: View & Modify Product Passwords, "
        "Perform Single Sign-On, View & Pay Invoices",
    ]
    # The change also shows the two whole lists, on hover.
    changed = rows_of(response)[3].find(class_="activity-description")
    assert changed["title"] == (
        "Permissions of Jo Walker on Acme: View & Modify Product Passwords, "
        "Perform Single Sign-On, View & Pay Invoices -> View & Modify Product Passwords, "
        "View Domains, View & Pay Invoices"
    )
    text = " ".join(shown)
    for key in KEYS_IN_TEXT:
        assert key not in text, key
    # The stored text is unchanged: translated when shown.
    stored = await ActivityEntry.select(ActivityEntry.description).where(
        ActivityEntry.action == "access.permissions_changed"
    )
    assert stored[0]["description"].endswith(
        "manageproducts, productsso, invoices -> manageproducts, domains, invoices"
    )


def test_only_whole_key_lists_in_their_place_are_translated():
    # Names that happen to be keys, or contain them, stay as written.
    assert describe("Created client account products owned by Jo Domains").text == (
        "Created client account products owned by Jo Domains"
    )
    assert describe("Gave Jo access to tickets: none -> tickets").text == (
        "Gave Jo access to tickets: View & Open Support Tickets"
    )
    assert describe("Acme note: off -> on").text == "Acme note: off -> on"
    assert describe("Setting company_name: Roster -> Acme").text == (
        "Setting company_name: Roster -> Acme"
    )
    # "products" is not read inside "manageproducts"; keys without a space after the comma too.
    assert describe("Invited a@b.c to Acme with manageproducts,productsso").text == (
        "Invited a@b.c to Acme with View & Modify Product Passwords, Perform Single Sign-On"
    )
    # An unknown word in the list: left alone rather than half translated.
    assert describe("Invited a@b.c to Acme with invoices, cheese").text == (
        "Invited a@b.c to Acme with invoices, cheese"
    )
    # A change shorter written as both lists than as a difference shows both lists.
    assert describe("Permissions of Jo on Acme: invoices -> " + ", ".join(ALL_KEYS)).text == (
        "Permissions of Jo on Acme: View & Pay Invoices -> all 13 permissions"
    )


async def test_entries_are_grouped_under_a_heading_per_day(http, admin_session):
    client_id, _ = await make_client("Acme")
    await ActivityEntry.delete(force=True)
    now = clock.now()
    days_ago = [0, 0, 1, 1, 1, 4, 9]
    for n, ago in enumerate(reversed(days_ago)):  # oldest first, as written
        await write_entry(ADMIN, "test", f"Change {n}: a -> b", client_id=client_id)
        await ActivityEntry.update({ActivityEntry.created_at: now - timedelta(days=ago)}).where(
            ActivityEntry.description == f"Change {n}: a -> b"
        )

    soup = page(await http.get("/admin/activity"))
    sections = soup.select("section.activity-day")
    headings = [s.find("h2").get_text(" ", strip=True) for s in sections]
    assert headings == [
        f"Today {long_date(now.date())}",
        f"Yesterday {long_date((now - timedelta(days=1)).date())}",
        long_date((now - timedelta(days=4)).date()),
        long_date((now - timedelta(days=9)).date()),
    ]
    assert [len(s.select("tbody tr")) for s in sections] == [2, 3, 1, 1]
    # Each day is labelled by its heading; only the first repeats no column names visually.
    for section in sections:
        assert section["aria-labelledby"] == section.find("h2")["id"]
        assert [th.get_text() for th in section.select("thead th")] == [
            "Time",
            "By",
            "What changed",
            "Account",
            "User",
            "IP",
        ]
    assert "visually-hidden" not in sections[0].find("thead").get("class", [])
    assert all("visually-hidden" in s.find("thead")["class"] for s in sections[1:])
    # Newest first across the days, and the time of day beside each (the date is the heading).
    rows = soup.select("tr[id^=entry-]")
    assert [what(r) for r in rows] == [f"Change {n}: a -> b" for n in reversed(range(7))]
    first_time = rows[0].find("time")
    assert first_time.get_text() == f"{now:%H:%M}"
    assert first_time["datetime"].startswith(now.date().isoformat())


async def test_one_row_per_change_with_time_actor_what_account_and_user(http, admin_session):
    client_id, owner = await make_client("Acme Hosting")
    member = await make_user("Jo", "Walker")
    await access.grant_access(client_id, member["id"], ["invoices"], actor=ADMIN)

    response = await http.get("/admin/activity")
    rows = rows_of(response)
    assert len(rows) == await ActivityEntry.count()
    for row in rows:
        cells = row.find_all("td", recursive=False)
        assert len(cells) == 6
        assert row.find("time")  # the time of day, in the first cell
    granted = rows[0]
    cells = granted.find_all("td", recursive=False)
    assert cells[1].get_text(" ", strip=True) == "Ada Admin staff"
    assert what(granted) == "Gave Jo Walker access to Acme Hosting: View & Pay Invoices"
    account = cells[3].find("a", string="Acme Hosting")
    assert account["href"] == f"/admin/activity?client_id={client_id}"
    open_link = cells[3].find("a", href=f"/admin/clients/{client_id}/users")
    assert open_link.get_text(" ", strip=True) == "↗ Open Acme Hosting"
    person = cells[4].find("a", string="Jo Walker")
    assert person["href"] == f"/admin/activity?user_id={member['id']}"
    assert member["email"] in cells[4].get_text() and member["email"] in person["title"]
    assert cells[5].get_text() == "127.0.0.1"


async def test_days_filters_and_pages_work_together(http, admin_session):
    client_id, _ = await make_client("Acme")
    other_id, _ = await make_client("Globex")
    await ActivityEntry.delete(force=True)
    now = clock.now()
    for i in range(60):
        await write_entry(ADMIN, "test", f"Step {i}: {i} -> {i + 1}", client_id=client_id)
    await write_entry(ADMIN, "test", "Elsewhere: a -> b", client_id=other_id)
    # The 30 oldest happened yesterday.
    old = await ActivityEntry.select(ActivityEntry.id).order_by(ActivityEntry.id).limit(30)
    await ActivityEntry.update({ActivityEntry.created_at: now - timedelta(days=1)}).where(
        ActivityEntry.id.is_in([r["id"] for r in old])
    )

    first = page(await http.get(f"/admin/activity?client_id={client_id}"))
    assert [h.get_text(" ", strip=True).split()[0] for h in first.select("h2")] == [
        "Today",
        "Yesterday",
    ]
    assert len(first.select("tr[id^=entry-]")) == 50
    assert "Elsewhere" not in first.get_text()
    second = page(await http.get(f"/admin/activity?client_id={client_id}&page=2"))
    assert [h.get_text(" ", strip=True).split()[0] for h in second.select("h2")] == ["Yesterday"]
    assert len(second.select("tr[id^=entry-]")) == 10
    assert "Page 2 of 2" in second.get_text()
