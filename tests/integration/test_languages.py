"""Languages (#28): which language a page is in (a signed-in person's own; staff's own in the
admin area; else the language menu's choice, else Accept-Language), `<html lang dir>`, the
language menu, and the kept renderings keyed by language."""

from datetime import UTC, datetime

import pytest

from app.core import i18n
from app.domain.users import services as users
from app.domain.users.services import get_user
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.staff import Admin
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page

DE = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def html_of(response):
    return page(response).find("html")


def footer_of(response) -> str:
    return " ".join(page(response).find("footer").get_text(" ").split())


async def test_a_visitor_gets_the_best_match_of_accept_language(http):
    german = await http.get("/login", headers=DE)
    assert html_of(german)["lang"] == "de" and html_of(german)["dir"] == "ltr"
    assert "Sprache" in footer_of(german)
    arabic = await http.get("/login", headers={"Accept-Language": "ar-EG"})
    assert html_of(arabic)["lang"] == "ar" and html_of(arabic)["dir"] == "rtl"
    assert "اللغة" in footer_of(arabic)
    for header in ("xx-YY", "", "en-US", "*;q=0.5", "de;q=0, en"):
        english = await http.get("/login", headers={"Accept-Language": header})
        assert html_of(english)["lang"] == "en", header
    brazil = await http.get("/login", headers={"Accept-Language": "pt"})
    assert html_of(brazil)["lang"] == "pt-BR"


async def test_the_language_menu_keeps_a_visitors_choice(http):
    chosen = await http.post("/language", {"language": "french", "back": "/login?x=1"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/login?x=1"
    again = await http.get("/login", headers=DE)  # the choice wins over the browser's
    assert html_of(again)["lang"] == "fr" and "Langue" in footer_of(again)
    menu = page(again).select_one("footer select[name=language]")
    assert menu.select_one("option[selected]")["value"] == "french"
    assert [o["value"] for o in menu.select("option")] == [lang.name for lang in i18n.LANGUAGES]
    for refused in ({"language": "klingon"}, {"language": ""}):
        assert (await http.post("/language", refused)).status_code == 400
    offsite = await http.post("/language", {"language": "german", "back": "https://evil.example"})
    assert offsite.headers["location"] == "/"
    assert (await http.post("/language", {"language": "german"}, csrf=False)).status_code == 403


async def test_a_signed_in_persons_language_is_their_own(http):
    _, owner = await make_client("Sprachen GmbH")
    other = await make_user("Otto", "Other")
    await http.login(owner["email"])
    assert html_of(await http.get("/account", headers=DE))["lang"] == "en"  # theirs: english
    changed = await http.post("/language", {"language": "german", "back": "/account"})
    assert changed.status_code == 303
    assert (await get_user(owner["id"]))["language"] == "german"
    assert (await get_user(other["id"]))["language"] == "english"
    logged = await ActivityEntry.select().where(ActivityEntry.action == "user.updated")
    assert [e["description"] for e in logged] == ["Language changed to german"]
    assert html_of(await http.get("/account"))["lang"] == "de"
    # The same choice again writes nothing.
    await http.post("/language", {"language": "german", "back": "/account"})
    assert await ActivityEntry.count().where(ActivityEntry.action == "user.updated") == 1


async def test_staff_have_their_own_language_in_the_admin_area(http, admin_session):
    assert html_of(await http.get("/admin/clients", headers=DE))["lang"] == "de"  # the browser's
    await http.post("/language", {"language": "spanish", "back": "/admin/clients"})
    (admin,) = await Admin.select().where(Admin.email == "ada@example.com")
    assert admin["language"] == "spanish"
    assert html_of(await http.get("/admin/clients", headers=DE))["lang"] == "es"


async def test_a_kept_users_tab_is_kept_per_language(http, admin_session):
    client_id, _ = await make_client("Kept Per Language")
    url = f"/admin/clients/{client_id}/users"
    assert html_of(await http.get(url, headers=DE))["lang"] == "de"
    assert html_of(await http.get(url, headers={"Accept-Language": "fr"}))["lang"] == "fr"
    assert html_of(await http.get(url, headers=DE))["lang"] == "de"


@pytest.mark.parametrize(
    ("name", "when", "day"),
    [
        ("english", "7 Dec 2026, 14:05", "7 Dec 2026"),
        ("german", "7. Dez. 2026, 14:05", "7. Dez. 2026"),
        ("french", "7 déc. 2026, 14:05", "7 déc. 2026"),
    ],
)
def test_dates_are_written_the_way_their_reader_reads_them(name, when, day):
    moment = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
    with i18n.using(i18n.language_named(name)):
        assert i18n.format_datetime(moment) == when
        assert i18n.format_date(moment) == day
        assert i18n.format_datetime(moment, "America/New_York").endswith("09:05")
        assert i18n.format_datetime(moment, "Not/AZone") == when  # an unknown zone: UTC


def test_unknown_language_names_fall_back_to_english():
    for name in ("italian", "dutch", "", None, "klingon"):
        assert i18n.language_named(name) is i18n.ENGLISH


async def test_a_boosted_navigation_to_a_page_in_another_language_is_a_whole_page_load(http):
    boosted = {"HX-Request": "true", "HX-Boosted": "true", "HX-Request-Type": "full"}
    moved = await http.get(
        "/login?next=%2Faccount", headers={**DE, **boosted, "X-Page-Language": "en"}
    )
    assert moved.status_code == 200 and moved.headers["hx-redirect"] == "/login?next=%2Faccount"
    same = await http.get("/login", headers={**DE, **boosted, "X-Page-Language": "de"})
    assert "hx-redirect" not in same.headers and html_of(same)["lang"] == "de"
    # A part of a page is swapped as it is: its page changes language only as a whole.
    part = await http.get("/login", headers={**DE, "HX-Request": "true", "X-Page-Language": "en"})
    assert "hx-redirect" not in part.headers


async def test_emails_go_out_in_their_recipients_language(http):
    client_id, owner = await make_client("Sprachen Co")
    german = await make_user("Greta", "Deutsch", email="greta@example.com")
    await users.set_language(german["id"], "german", actor=ADMIN)
    await http.post("/password/reset", {"email": "greta@example.com"})
    (reset,) = await OutboundEmail.select().where(OutboundEmail.to_address == "greta@example.com")
    assert '<html lang="de"' in reset["html_body"]
    # Someone with no login reads the invitation in the language of whoever sends it.
    await users.set_language(owner["id"], "french", actor=ADMIN)
    await http.login(owner["email"])
    await http.post("/account/users/invite", {"email": "nouveau@example.com", "scope": "all"})
    (invite,) = await OutboundEmail.select().where(
        OutboundEmail.to_address == "nouveau@example.com"
    )
    assert '<html lang="fr"' in invite["html_body"]
    with i18n.using(i18n.BY_NAME["french"]):
        assert i18n.gettext("You will be able to:") in invite["text_body"]
    assert client_id


async def test_security_sets_a_persons_language_and_time_zone(http, admin_session):
    from app.schema.users import User

    section = page(await http.get("/admin/security")).find(id="security-locale")
    assert section.select_one("select[name=time_zone] option[selected]")["value"] == ""
    saved = await http.post(
        "/admin/security/locale", {"language": "german", "time_zone": "Asia/Tokyo"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/security?done=locale"
    (admin,) = await Admin.select().where(Admin.email == "ada@example.com")
    assert (admin["language"], admin["time_zone"]) == ("german", "Asia/Tokyo")
    for refused in (
        {"language": "german", "time_zone": "Mars/Olympus"},
        {"language": "klingon", "time_zone": ""},
    ):
        assert (await http.post("/admin/security/locale", refused)).status_code == 400
    shown = await http.get("/admin/security?done=locale")
    assert html_of(shown)["lang"] == "de"
    zone = page(shown).find(id="security-locale").select_one("select[name=time_zone]")
    assert zone.select_one("option[selected]")["value"] == "Asia/Tokyo"
    # A user's own, the same way; an empty time zone is their browser's again.
    _, owner = await make_client("Zonen Co")
    await http.post("/admin/logout")
    await http.login(owner["email"])
    await http.post("/account/security/locale", {"language": "french", "time_zone": "Europe/Paris"})
    await http.post("/account/security/locale", {"language": "french", "time_zone": ""})
    (row,) = await User.select().where(User.id == owner["id"])
    assert (row["language"], row["time_zone"]) == ("french", None)


def test_dates_follow_the_persons_zone_else_the_browsers():
    from app.domain.auth.services import Viewer
    from app.http.plumbing.middleware import zone_for

    cookie = [(b"cookie", b"roster_tz=America%2FNew_York")]
    chose = Viewer(user={"id": 1, "time_zone": "Asia/Tokyo"})
    assert zone_for(chose, {"path": "/account", "headers": cookie}) == "Asia/Tokyo"
    browser = Viewer(user={"id": 1, "time_zone": None})
    assert zone_for(browser, {"path": "/account", "headers": cookie}) == "America/New_York"
    assert zone_for(Viewer(), {"path": "/login", "headers": []}) is None
