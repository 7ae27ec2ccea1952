"""Bulk Invite: a 500-row list with every kind of row previews what it then sends, exactly; the
same list sent again sends nothing new; the web pages (paste and CSV, staff and owner), the API's
dry run, and the inputs refused whole (nothing changes)."""

from datetime import timedelta

import pytest

from app.core import clock
from app.core.errors import DomainError
from app.domain.access import services as access
from app.domain.invitations import bulk
from app.domain.invitations import services as invitations
from app.domain.staff import services as admin_settings
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor
from tests.integration.conftest import page, seen, text_of


async def _written() -> tuple[int, int, int]:
    return (await Invitation.count(), await OutboundEmail.count(), await ActivityEntry.count())


async def _every_kind(monkeypatch) -> tuple[int, list[bulk.Entry], dict[str, int]]:
    """An account and a 500-row list holding every kind of row, and the counts it must have."""
    monkeypatch.setattr(invitations, "resend_cooldown", lambda: timedelta(seconds=60))
    client_id, owner = await make_client("Bulk Co")
    lines: list[str] = [owner["email"]]  # the owner: already has access
    for _ in range(9):
        user = await make_user()
        await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
        lines.append(user["email"].upper())  # compared case-insensitively
    for n in range(10):
        user = await make_user(f"Exa{n}", "Isting")
        lines.append(f"Someone Else <{user['email']}>")
    # 20 pending invites: 10 sent an hour ago (sent again), 10 just now (in the cooldown)
    for n in range(20):
        email = unique_email("pending")
        await invitations.invite(client_id, email, ["invoices"], actor=ADMIN)
        if n < 10:
            await Invitation.update(
                {Invitation.last_sent_at: clock.now() - timedelta(hours=1)}
            ).where(Invitation.email == email)
        lines.append(email)
    for _ in range(5):  # expired: a new invite replaces each
        email = unique_email("expired")
        await invitations.invite(client_id, email, ["invoices"], actor=ADMIN)
        await Invitation.update({Invitation.expires_at: clock.now() - timedelta(days=1)}).where(
            Invitation.email == email
        )
        lines.append(email)
    lines += ["not-an-address", "two@@example.com", "ana@", "@example.com", "x y@example.com"]
    lines += [f"dup{n}@example.com" for n in range(15)]
    lines += [f"DUP{n}@Example.com" for n in range(15)]  # duplicates of the line before
    lines += [f"new{n}@example.com" for n in range(440)]
    assert len(lines) == 520  # the paste; then 10 CSV rows that take it past 500 are below
    text = "\n".join(lines[:490])
    csv_text = "email,first name,last name,permissions\n" + "\n".join(
        [f"{address},Cee,Ess," for address in lines[490:496]]
        + [
            "bad-perm@example.com,Bad,Perm,invoices;flying",
            "own@example.com,Own,Perms,tickets|emails",
        ]
        + ["all@example.com,All,Keys,all", "spaced@example.com,Sp,Aced,invoices tickets"]
    )
    entries = bulk.read_list(text, csv_text)
    assert len(entries) == 500
    # Already sent today: 25 (20 pending, 5 expired); the limit leaves room for 415 more.
    monkeypatch.setattr(invitations, "daily_invite_limit", lambda: 440)
    expected = {
        bulk.HAS_ACCESS: 10,
        bulk.EXISTING_USER: 10,
        bulk.RESEND: 10,
        bulk.PENDING: 10,
        bulk.INVALID: 6,  # five addresses, one unknown permission
        bulk.DUPLICATE: 15,
        # 5 replacing an expired invite, 15 first "dup", then "new" ones up to the limit
        bulk.NEW_PERSON: 415 - 10,
        bulk.OVER_LIMIT: 500 - 10 - 10 - 20 - 6 - 15 - 405,
    }
    return client_id, entries, expected


async def test_a_500_row_list_previews_every_kind_and_sends_exactly_that(monkeypatch):
    client_id, entries, expected = await _every_kind(monkeypatch)
    before = await _written()
    plan = await bulk.preview(client_id, entries, ["tickets"], actor=ADMIN, resend_pending=True)
    assert {k: v for k, v in plan.counts.items() if v} == expected
    assert (plan.limit, plan.sent_today, plan.left_today) == (440, 25, 415)
    assert await _written() == before  # a dry run writes nothing
    by_row = {r.row: r for r in plan.rows}
    assert by_row[1].outcome == bulk.HAS_ACCESS
    assert by_row[11].outcome == bulk.EXISTING_USER and by_row[11].name == "Exa0 Isting"
    assert by_row[21].outcome == bulk.RESEND
    assert "sent moments ago" in by_row[31].reason  # a pending invite in its cooldown
    assert by_row[41].reason == "Replaces an expired invite."
    assert "valid email" in by_row[46].reason
    assert by_row[66].outcome == bulk.DUPLICATE and "row 51" in by_row[66].reason
    assert by_row[497].outcome == bulk.INVALID and "flying" in by_row[497].reason
    over = [r.row for r in plan.rows if r.outcome == bulk.OVER_LIMIT]
    assert over == [n for n in range(466, 501) if n != 497]  # the last ones that could go
    sent = await bulk.send(client_id, entries, ["tickets"], actor=ADMIN, resend_pending=True)
    assert [(r.row, r.outcome, r.permissions) for r in sent.rows] == [
        (r.row, r.outcome, r.permissions) for r in plan.rows
    ]
    invited = expected[bulk.NEW_PERSON] + expected[bulk.EXISTING_USER]
    after = await _written()
    assert after[0] == before[0] + invited
    assert after[1] == before[1] + invited + expected[bulk.RESEND]  # one email each
    entries_made = await ActivityEntry.select(ActivityEntry.action).where(ActivityEntry.id > 0)
    actions = [e["action"] for e in entries_made]
    assert actions.count("invite.sent") == 25 + invited and actions.count("invite.resent") == 10
    own = next(r for r in sent.rows if r.email == "own@example.com")
    assert own.permissions == ("tickets", "emails")
    assert next(r for r in sent.rows if r.email == "all@example.com").permissions == bulk.ALL_KEYS
    assert all(r.invitation_id for r in sent.rows if r.outcome in bulk.SENDS)

    # The same list again: nothing new (pending now, in the cooldown, or still over the limit).
    again = await bulk.send(client_id, entries, ["tickets"], actor=ADMIN, resend_pending=True)
    assert again.to_send == 0
    assert await _written() == after


async def test_a_send_reads_the_email_settings_once_for_all_it_sends(monkeypatch):
    """The link's lifetime and the company name: one read for the new invitations and every
    resend together, not one per resend."""
    client_id, entries, expected = await _every_kind(monkeypatch)
    assert expected[bulk.RESEND] > 1
    reads = 0
    real = invitations.email_settings

    async def counted():
        nonlocal reads
        reads += 1
        return await real()

    monkeypatch.setattr(invitations, "email_settings", counted)
    sent = await bulk.send(client_id, entries, ["tickets"], actor=ADMIN, resend_pending=True)
    assert sent.counts[bulk.RESEND] == expected[bulk.RESEND] and reads == 1


async def test_send_is_all_or_nothing(monkeypatch):
    client_id, _ = await make_client()
    before = await _written()
    entries = bulk.read_list("a@example.com\nb@example.com\nc@example.com")

    async def failing(*args, **kwargs):  # after the invitations and emails were written
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(invitations, "emit_all", failing)
    with pytest.raises(RuntimeError):
        await bulk.send(client_id, entries, ["tickets"], actor=ADMIN)
    assert await _written() == before


async def test_send_decides_again_what_changed_since_the_preview():
    client_id, _ = await make_client()
    entries = bulk.read_list("late@example.com, other@example.com")
    plan = await bulk.preview(client_id, entries, ["tickets"], actor=ADMIN)
    assert plan.to_send == 2
    await invitations.invite(client_id, "late@example.com", ["tickets"], actor=ADMIN)
    sent = await bulk.send(client_id, entries, ["tickets"], actor=ADMIN)
    assert [r.outcome for r in sent.rows] == [bulk.PENDING, bulk.NEW_PERSON]


async def test_the_daily_limit_is_stated_and_applies(monkeypatch):
    monkeypatch.setattr(invitations, "daily_invite_limit", lambda: 3)
    client_id, _ = await make_client()
    await invitations.invite(client_id, "first@example.com", ["tickets"], actor=ADMIN)
    entries = bulk.read_list("a@example.com;b@example.com;c@example.com")
    sent = await bulk.send(client_id, entries, ["tickets"], actor=ADMIN)
    assert [r.outcome for r in sent.rows] == [bulk.NEW_PERSON, bulk.NEW_PERSON, bulk.OVER_LIMIT]
    assert "3 invites in the last 24 hours" in sent.rows[2].reason
    assert await Invitation.count() == 3


async def test_reading_pasted_lists():
    entries = bulk.read_list(
        'Ana Lima <ana@example.com>, "Lima, Bea" <bea@example.com>; cy@example.com\n\n'
        "  dee@example.com  \n"
        "Eve <eve@example.com>;"
    )
    assert [(e.row, e.address, e.first_name, e.last_name) for e in entries] == [
        (1, "ana@example.com", "Ana", "Lima"),
        (2, "bea@example.com", "Bea", "Lima"),
        (3, "cy@example.com", "", ""),
        (4, "dee@example.com", "", ""),
        (5, "eve@example.com", "Eve", ""),
    ]
    semicolons = bulk.read_csv("Email;First Name;Last Name\nfay@example.com;Fay;Fox\n")
    assert [(e.address, e.first_name, e.last_name) for e in semicolons] == [
        ("fay@example.com", "Fay", "Fox")
    ]
    reordered = bulk.read_csv("last name,permissions,email\nGee,invoices,gus@example.com\n")
    assert [(e.address, e.last_name, e.permissions) for e in reordered] == [
        ("gus@example.com", "Gee", "invoices")
    ]
    # What a preview carries to Send Invites reads back the same.
    assert bulk.read_csv(bulk.as_csv(entries)) == entries


@pytest.mark.parametrize(
    ("text", "csv_text", "says"),
    [
        ("\n".join(f"p{n}@example.com" for n in range(501)), "", "at most 500"),
        ("a@example.com\n" * 300, "email\n" + "b@example.com\n" * 201, "at most 500"),
        ("a" * 1001 + "@example.com", "", "longer than 1000 characters"),
        ("a@example.com\x00b@example.com", "", "NUL"),
        ("", "", "Paste at least one email address"),
        (" \n ;, ", "", "Paste at least one email address"),
    ],
)
async def test_lists_refused_whole(text, csv_text, says):
    with pytest.raises(DomainError, match=says):
        bulk.read_list(text, csv_text)


@pytest.mark.parametrize(
    ("data", "content_type", "says"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "not a CSV file"),
        (b"email\na@example.com\x00", "text/csv", "NUL bytes"),
        (b"email\n\xff\xfeb\x00", "application/octet-stream", "NUL bytes"),
        ("email\nzoë@exämple.com".encode("latin-1"), "text/csv", "not UTF-8"),
        (b"x" * (bulk.MAX_BYTES + 1), "text/csv", "larger than 512 KB"),
    ],
)
async def test_files_refused_whole(data, content_type, says):
    with pytest.raises(DomainError, match=says):
        bulk.decode_upload(data, "list.csv", content_type)


async def test_a_bom_is_read_past():
    text = bulk.decode_upload(b"\xef\xbb\xbfemail\nbom@example.com\n", "l.csv", "text/csv")
    assert [e.address for e in bulk.read_csv(text)] == ["bom@example.com"]


async def test_permissions_are_needed_for_rows_that_name_none():
    client_id, _ = await make_client()
    entries = bulk.read_csv("a@example.com,,,invoices\nb@example.com,,,\n")
    with pytest.raises(DomainError, match="Choose at least one permission"):
        await bulk.preview(client_id, entries, [], actor=ADMIN)
    own = bulk.read_csv("a@example.com,,,invoices\n")
    assert (await bulk.preview(client_id, own, [], actor=ADMIN)).to_send == 1


async def test_a_closed_account_and_a_non_owner_are_refused():
    client_id, owner = await make_client()
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    entries = bulk.read_list("a@example.com")
    with pytest.raises(DomainError, match="Only the account owner"):
        await bulk.preview(client_id, entries, ["tickets"], actor=user_actor(member))
    from app.domain.clients import services as clients

    await clients.set_status(client_id, "Closed", actor=ADMIN)
    with pytest.raises(DomainError, match="closed"):
        await bulk.send(client_id, entries, ["tickets"], actor=user_actor(owner))
    assert await Invitation.count() == 0


# ---- the web pages ---------------------------------------------------------------------------


async def test_staff_preview_a_paste_and_a_csv_then_send(http, admin_session):
    client_id, _ = await make_client("Web Bulk Co")
    base = f"/admin/clients/{client_id}/users"
    tab = await http.get(base)
    assert page(tab).find("a", string="Bulk Invite")["href"] == f"{base}/bulk"
    form_page = await http.get(f"{base}/bulk")
    assert form_page.status_code == 200
    assert page(form_page).find("label", string="Email addresses")
    files = {"csv_file": ("team.csv", b"email,first name,last name\ncsv@example.com,Cas,Vee\n")}
    fields = {"addresses": "Pia <pia@example.com>\nbroken", "scope": "all"}
    preview = await http.post(
        f"{base}/bulk/preview", fields, files=files, headers={"hx-request": "true"}
    )
    assert preview.status_code == 200, preview.text
    shown = text_of(preview)
    assert "Nothing has been sent yet" in shown and "(including team.csv)" in shown
    assert "Invite a new person : 2" in shown and "Invalid : 1" in shown
    assert await Invitation.count() == 0 and await OutboundEmail.count() == 0
    send_form = page(preview).find("form", class_="bulk-send")
    carried = {i["name"]: i["value"] for i in send_form.find_all("input") if i.get("name")}
    sent = await http.post(f"{base}/bulk/send", carried, headers={"hx-request": "true"})
    assert sent.status_code == 200
    assert "2 invites sent." in seen(sent) and "Invited (new person)" in text_of(sent)
    assert sorted(r["email"] for r in await Invitation.select(Invitation.email)) == [
        "csv@example.com",
        "pia@example.com",
    ]
    again = await http.post(f"{base}/bulk/send", carried, headers={"hx-request": "true"})
    assert "Nothing new to send" in seen(again) and await Invitation.count() == 2


async def test_a_file_that_is_not_csv_changes_nothing(http, admin_session):
    client_id, _ = await make_client()
    files = {"csv_file": ("photo.png", b"\x89PNG\r\n\x1a\n\x00", "image/png")}
    response = await http.post(
        f"/admin/clients/{client_id}/users/bulk/preview",
        {"scope": "all"},
        files=files,
        headers={"hx-request": "true"},
    )
    assert response.status_code == 422
    assert "not a CSV file" in text_of(response)
    assert page(response).find(id="bulk-csv")["aria-invalid"] == "true"
    assert await Invitation.count() == 0


async def test_a_file_in_another_field_is_refused(http, admin_session):
    client_id, _ = await make_client()
    response = await http.post(
        f"/admin/clients/{client_id}/users/bulk/preview",
        {"scope": "all"},
        files={"addresses": ("a.txt", b"a@example.com", "text/plain")},
        headers={"hx-request": "true"},
    )
    assert response.status_code == 422 and "must be text, not a file" in text_of(response)


async def test_support_operators_cannot_bulk_invite(http, support_session):
    client_id, _ = await make_client()
    assert (await http.get(f"/admin/clients/{client_id}/users/bulk")).status_code == 403
    response = await http.post(
        f"/admin/clients/{client_id}/users/bulk/send",
        {"addresses": "a@example.com", "scope": "all"},
    )
    assert response.status_code == 403 and await Invitation.count() == 0


async def test_the_owner_bulk_invites_from_user_management(http):
    client_id, owner = await make_client("Owner Bulk Co")
    await http.login(owner["email"])
    users = await http.get("/account/users")
    assert page(users).find("a", string="Bulk Invite")["href"] == "/account/users/bulk"
    fields = {
        "addresses": "one@example.com; two@example.com",
        "scope": "choose",
        "permissions": ["invoices", "quotes"],
    }
    preview = await http.post("/account/users/bulk/preview", fields)  # no htmx: the whole page
    assert preview.status_code == 200 and "<html" in preview.text
    carried = page(preview).find("form", class_="bulk-send")
    data = [(i["name"], i["value"]) for i in carried.find_all("input") if i.get("name")]
    sent = await http.client.post(
        "/account/users/bulk/send",
        data=dict(data) | {"permissions": ["invoices", "quotes"]},
        headers={"x-csrftoken": http.cookies.get("roster_csrf"), "hx-request": "true"},
    )
    assert sent.status_code == 200 and "2 invites sent." in seen(sent)
    rows = await Invitation.select(Invitation.permissions, Invitation.invited_by_user)
    assert rows == [{"permissions": "invoices,quotes", "invited_by_user": owner["id"]}] * 2


async def test_the_owner_cannot_when_user_management_is_turned_off(http):
    _, owner = await make_client()
    await admin_settings.set_setting(
        admin_settings.DISABLE_CLIENT_USER_MANAGEMENT, "true", actor=ADMIN
    )
    await http.login(owner["email"])
    assert (await http.get("/account/users/bulk")).status_code == 403
    response = await http.post(
        "/account/users/bulk/send",
        {"addresses": "a@example.com", "scope": "all"},
        headers={"hx-request": "true"},
    )
    assert response.status_code in (403, 422) and await Invitation.count() == 0


async def test_a_preview_runs_the_same_statements_for_5_rows_or_500(
    http, admin_session, count_queries
):
    client_id, _ = await make_client()
    url = f"/admin/clients/{client_id}/users/bulk/preview"
    counts = []
    for size in (5, 500):
        text = "\n".join(f"s{n}@example.com" for n in range(size))
        with count_queries() as counter:
            response = await http.post(
                url, {"addresses": text, "scope": "all"}, headers={"hx-request": "true"}
            )
        assert response.status_code == 200
        counts.append(counter.n)
    assert counts[0] == counts[1] <= 10, counts


# ---- the API ---------------------------------------------------------------------------------


@pytest.fixture
async def api(http):
    from app.domain.credentials.services import create_credential
    from app.domain.staff.services import create_admin

    staff_id = await create_admin(
        email="api.bulk@example.com",
        password="api-bulk-passphrase-1",
        name="Api",
        role="full",
        actor=ADMIN,
    )
    made = await create_credential(staff_id, description="bulk", actor=ADMIN)
    http.client.headers["authorization"] = f"Bearer {made.identifier}:{made.secret}"
    return http.client


async def test_the_api_previews_with_dry_run_then_sends(api):
    client_id, _ = await make_client()
    body = {
        "rows": [
            {"email": "r1@example.com", "first_name": "Ro", "permissions": ["tickets"]},
            {"email": "bad"},
            {"email": "R1@example.com"},
        ],
        "permissions": ["invoices"],
        "dry_run": True,
    }
    url = f"/api/v1/clients/{client_id}/invitations/bulk"
    dry = await api.post(url, json=body)
    assert dry.status_code == 200, dry.text
    answer = dry.json()
    assert [r["outcome"] for r in answer["rows"]] == ["invite_new", "invalid", "duplicate"]
    assert answer["sent"] == 0 and answer["daily_limit"] == 50 and answer["left_today"] == 50
    assert await Invitation.count() == 0
    sent = (await api.post(url, json={**body, "dry_run": False})).json()
    assert sent["sent"] == 1 and sent["rows"][0]["invitation_id"]
    assert sent["rows"][0]["permissions"] == ["tickets"]
    text = await api.post(
        url, json={"text": "r1@example.com, t@example.com", "permissions": ["invoices"]}
    )
    assert [r["outcome"] for r in text.json()["rows"]] == ["pending", "invite_new"]
    refused = await api.post(url, json={"text": "x" * 1001, "permissions": ["invoices"]})
    assert refused.status_code == 422
    both = await api.post(url, json={"rows": [{"email": "a@example.com"}], "text": "b@example.com"})
    assert both.status_code == 422


async def test_the_schema_describes_the_bulk_operation(http):
    schema = (await http.get("/api/v1/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/clients/{client_id}/invitations/bulk"]["post"]
    assert "dry_run" in str(schema["components"]["schemas"]["BulkInviteCreate"])
    assert operation["summary"].startswith("Invite many addresses")


async def test_invite_events_are_the_single_invites_own(monkeypatch):
    told = []
    from app.domain.events import stream

    stop = stream.listen(lambda event, actor: told.append(event.NAME))
    try:
        client_id, _ = await make_client()
        told.clear()
        await bulk.send(
            client_id, bulk.read_list("e1@example.com\ne2@example.com"), ["tickets"], actor=ADMIN
        )
    finally:
        stop()
    assert told.count("invite.sent") == 2


async def test_each_invitation_reaches_the_webhooks_as_a_single_one_would(
    allow_private, monkeypatch
):
    monkeypatch.setattr(invitations, "daily_invite_limit", lambda: 1000)
    import json

    from app.domain.activity.services import Actor
    from app.domain.staff.services import create_admin
    from app.domain.webhooks import services as webhooks
    from app.schema.webhooks import WebhookDelivery

    staff_id = await create_admin(
        email="hooks@example.com",
        password="hooks-passphrase-77",
        name="Hoo",
        role="full",
        actor=ADMIN,
    )
    manager = Actor("admin", staff_id, "Hoo", "127.0.0.1")
    await webhooks.create_endpoint(
        url="http://127.0.0.1:9/a", event_types=["invite.sent"], actor=manager
    )
    await webhooks.create_endpoint(url="http://127.0.0.1:9/b", event_types="*", actor=manager)
    await WebhookDelivery.delete(force=True)
    client_id, _ = await make_client()
    await WebhookDelivery.delete(force=True)
    addresses = [f"h{n}@example.com" for n in range(250)]  # past one statement's chunk
    sent = await bulk.send(
        client_id, bulk.read_list("\n".join(addresses)), ["tickets"], actor=ADMIN
    )
    rows = await WebhookDelivery.select().order_by(WebhookDelivery.id)
    invites = [r for r in rows if r["event_type"] == "invite.sent"]
    assert len(invites) == 500 and len(rows) == 750  # both take invite.sent; "*" email.queued
    for endpoint in {r["endpoint"] for r in invites}:
        mine = [json.loads(r["body"]) for r in invites if r["endpoint"] == endpoint]
        assert [d["data"]["email"] for d in mine] == addresses  # in order, each once
        assert [d["data"]["invitation_id"] for d in mine] == [r.invitation_id for r in sent.rows]
    assert len({r["message_id"] for r in rows}) == 500  # one per event, as emit gives it


# ---- presets ---------------------------------------------------------------------------------


async def _staff_preset() -> str:
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    made = await presets.create_preset("Domain desk", ["domains", "managedomains"], actor=SYSTEM)
    return str(made["id"])


async def test_a_row_may_name_a_preset_and_gets_its_keys_now():
    client_id, _ = await make_client()
    await _staff_preset()
    entries = bulk.read_csv(
        "email,first name,last name,preset\n"
        "a@example.com,,,Billing contact\n"
        "b@example.com,,,DOMAIN DESK\n"
        "c@example.com,,,No such preset\n"
        "d@example.com,,,\n"
    )
    plan = await bulk.preview(client_id, entries, ["tickets"], actor=ADMIN)
    assert [(r.outcome, r.permissions) for r in plan.rows[:2]] == [
        (bulk.NEW_PERSON, ("invoices", "quotes", "emails")),
        (bulk.NEW_PERSON, ("domains", "managedomains")),
    ]
    assert plan.rows[2].outcome == bulk.INVALID
    assert plan.rows[3].permissions == ("tickets",)
    await bulk.send(client_id, entries, ["tickets"], actor=ADMIN)
    given = {r["email"]: r["permissions"] for r in await Invitation.select()}
    assert permissions_of(given["b@example.com"]) == ("domains", "managedomains")


def permissions_of(stored) -> tuple[str, ...]:
    from app.core.permissions import deserialize

    return deserialize(stored)


async def test_the_bulk_form_offers_the_presets_and_sends_a_presets_keys(http, admin_session):
    client_id, _ = await make_client("Preset Bulk Co")
    preset_id = await _staff_preset()
    base = f"/admin/clients/{client_id}/users"
    form_page = page(await http.get(f"{base}/bulk"))
    offered = [i["value"] for i in form_page.select("#bulk-form input[name=scope]")]
    assert offered[0] == "all" and offered[-1] == "choose"
    assert "preset:billing-contact" in offered and f"preset:{preset_id}" in offered
    fields = {"addresses": "pre@example.com", "scope": f"preset:{preset_id}"}
    preview = await http.post(f"{base}/bulk/preview", fields, headers={"hx-request": "true"})
    assert preview.status_code == 200, preview.text
    assert (
        page(preview)
        .select_one(f"#bulk-form input[value='preset:{preset_id}']")
        .has_attr("checked")
    )
    send_form = page(preview).find("form", class_="bulk-send")
    carried = {i["name"]: i["value"] for i in send_form.find_all("input") if i.get("name")}
    sent = await http.post(f"{base}/bulk/send", carried, headers={"hx-request": "true"})
    assert sent.status_code == 200, sent.text
    invite = await Invitation.select().first()
    assert permissions_of(invite["permissions"]) == ("domains", "managedomains")
    gone = await http.post(
        f"{base}/bulk/preview",
        {"addresses": "x@example.com", "scope": "preset:99999"},
        headers={"hx-request": "true"},
    )
    assert gone.status_code == 422 and "no longer exists" in text_of(gone)


async def test_a_preset_deleted_between_preview_and_send_sends_nothing(http, admin_session):
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    client_id, _ = await make_client("Vanishing Preset Co")
    preset_id = await _staff_preset()
    base = f"/admin/clients/{client_id}/users"
    fields = {"addresses": "one@example.com\ntwo@example.com", "scope": f"preset:{preset_id}"}
    preview = await http.post(f"{base}/bulk/preview", fields, headers={"hx-request": "true"})
    assert preview.status_code == 200, preview.text
    send_form = page(preview).find("form", class_="bulk-send")
    carried = {i["name"]: i["value"] for i in send_form.find_all("input") if i.get("name")}
    await presets.delete_preset(int(preset_id), actor=SYSTEM)  # another staff member, meanwhile
    before = await _written()
    sent = await http.post(f"{base}/bulk/send", carried, headers={"hx-request": "true"})
    assert sent.status_code == 422 and "no longer exists" in text_of(sent)
    assert await _written() == before and before[:2] == (0, 0)


async def test_the_api_takes_a_preset_for_the_rows_that_name_none(api):
    client_id, _ = await make_client()
    url = f"/api/v1/clients/{client_id}/invitations/bulk"
    body = {"text": "p1@example.com", "preset": "technical-contact", "dry_run": True}
    answer = await api.post(url, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"][0]["permissions"] == [
        "products",
        "manageproducts",
        "productsso",
        "domains",
        "managedomains",
        "tickets",
    ]
    unknown = await api.post(url, json={**body, "preset": "nope"})
    both = await api.post(url, json={**body, "permissions": ["tickets"]})
    assert (unknown.status_code, both.status_code) == (422, 422)
    assert await Invitation.count() == 0


async def test_a_preset_named_like_a_key_does_not_change_what_the_key_means():
    from app.domain.activity.services import SYSTEM
    from app.domain.presets import services as presets

    client_id, _ = await make_client()
    await presets.create_preset("Tickets", ["invoices", "quotes"], actor=SYSTEM)
    plan = await bulk.preview(
        client_id, bulk.read_csv("k@example.com,,,tickets\n"), ["orders"], actor=ADMIN
    )
    assert plan.rows[0].permissions == ("tickets",)
