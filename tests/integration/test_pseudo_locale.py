"""Every text a person reads goes through the catalog (#28): pages, dialogs, fragments, refused
forms and emails, rendered in the pseudo-locale (app.core.pseudo: each message wrapped in ⟦…⟧
and accented), show no Latin letter outside a wrapped message but in the data the test made.
The data is written in Greek where it can be (names, account names), so that it cannot pass for
English; what must stay Latin (email addresses, the product's name) is listed."""

import re

import pytest
from bs4 import BeautifulSoup, Comment, Doctype

from app.core import i18n
from app.core.pseudo import CLOSE, OPEN
from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.mail import services as mail
from app.http.plumbing import middleware
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, PASSWORD, make_user, user_actor
from tests.integration.conftest import log_in_as_staff

OWNER = "owner@example.com"
MEMBER = "member@example.com"
GUEST = "guest@example.com"
STAFF = "ada@example.com"
# Latin text that is data or the product's name, not a message.
ALLOWED = re.compile(
    r"[\w.+-]+@[\w.-]+|https?://\S+|/[\w/{}.?=&%-]*|\bRoster\b|\bWHMCS\b|\bUTC\b|\bAPI\b"
    r"|\bOpenID Connect\b|\b(?:IDENTIFIER|SECRET)\b|whsec_\w+|\b[0-9a-f]{8,}\b"
    r"|\b[a-z_]+(?:\.[a-z_]+)+\b|\b(?:ES|RS)256\b"  # event types; signing algorithms
    r"|\bAda Admin\b"  # the staff member tests.factories.ADMIN names as the doer
    r"|\blocalhost\b"  # the host name a login came from
)
# A message holds values that are messages themselves: the innermost wrapped first.
INNERMOST = re.compile(re.escape(OPEN) + "[^" + OPEN + CLOSE + "]*" + re.escape(CLOSE))
SHOWN_ATTRIBUTES = (
    "title",
    "aria-label",
    "placeholder",
    "alt",
    "data-confirm-title",
    "data-confirm-action",
    "data-confirm-dismiss",
    "hx-confirm",
    "data-label",
)


def unwrapped(text: str) -> str:
    """The text without its wrapped messages (nested ones too)."""
    while True:
        rest = INNERMOST.sub(" ", text)
        if rest == text:
            return ALLOWED.sub(" ", rest)
        text = rest


def leftovers(text: str) -> str:
    """What of a text is neither a wrapped message nor allowed data: its Latin words."""
    rest = unwrapped(text)
    return " ".join(word for word in rest.split() if re.search(r"[A-Za-z]", word))


def untranslated(html: str) -> list[str]:
    """The Latin words of a page (its text, and the attributes a person sees or hears) outside
    wrapped messages and allowed data, each with what is around it. Text in another declared
    language (`lang`: the language menu's names), data marked `translate="no"` (the activity
    log's stored descriptions) and the logo's letter are not messages."""
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "code", "pre", "template"]):
        hidden.decompose()
    for other in soup.select('body [lang], .brand-mark, [translate="no"]'):
        other.decompose()
    for skipped in soup.find_all(string=lambda text: isinstance(text, (Comment, Doctype))):
        skipped.extract()
    texts = [soup.get_text(" ")]
    for element in soup.find_all(True):
        texts += [element[name] for name in SHOWN_ATTRIBUTES if element.has_attr(name)]
    found = []
    for text in texts:
        text = " ".join(text.split())
        for match in re.finditer(r"\S*[A-Za-z]\S*", unwrapped(text)):
            found.append(match.group(0))
    return sorted(set(found))


@pytest.fixture
def pseudo(monkeypatch):
    monkeypatch.setattr(middleware, "language_for", lambda viewer, scope: i18n.PSEUDO)


async def make_world() -> dict:
    """Greek-named people and accounts: an owner of two accounts with a member, a pending
    invite and an invitation to several accounts."""
    alpha = await clients.create_client(
        owner_email=OWNER,
        owner_first="Ωμέγα",
        owner_last="Ιδιοκτήτης",
        owner_password=PASSWORD,
        company="Άλφα Φιλοξενία",
        actor=ADMIN,
    )
    beta = await clients.create_client(
        owner_email=OWNER,
        owner_first="Ωμέγα",
        owner_last="Ιδιοκτήτης",
        company="Βήτα Δίκτυα",
        actor=ADMIN,
    )
    member = await make_user("Μέλος", "Ομάδας", email=MEMBER)
    await access.grant_access(alpha, member["id"], ["invoices", "tickets"], actor=ADMIN)
    owner = (await clients.get_client(alpha))["owner"]
    actor = user_actor({"id": owner, "first_name": "Ωμέγα", "last_name": "Ιδιοκτήτης"})
    invitation_id, token = await invitations.invite(alpha, GUEST, ["quotes"], actor=actor)
    several = await invitations.invite_to_accounts(
        "several@example.com",
        [invitations.ForAccount(alpha, ["domains"]), invitations.ForAccount(beta, ["emails"])],
        actor=actor,
    )
    return {
        "alpha": alpha,
        "beta": beta,
        "member": member,
        "invitation": invitation_id,
        "token": token,
        "several": several.token,
        "actor": actor,
    }


@pytest.fixture
async def world(monkeypatch):
    """make_world's, its emails written in the pseudo-locale (no recipient has a language of
    their own here: each is written in the language of what sends it)."""
    monkeypatch.setattr(mail, "recipients_languages", no_languages)
    with i18n.using(i18n.PSEUDO):
        return await make_world()


async def no_languages(addresses):
    return {}


def check(response, url: str, problems: list) -> None:
    assert response.status_code < 500, (url, response.status_code)
    left = untranslated(response.text)
    if left:
        problems.append(f"{url}: {left}")


async def test_the_pages_a_visitor_sees_are_all_translated(http, pseudo, world):
    problems: list[str] = []
    for url in (
        "/login",
        "/register",
        "/password/reset",
        "/terms",
        "/admin/login",
        f"/invite/{world['token']}",
        f"/invite/{world['several']}",
        "/invite/unknown-link",
        "/no-such-page",
    ):
        check(await http.get(url), url, problems)
    refused = await http.post("/login", {"email": "nobody@example.com", "password": "x"})
    check(refused, "refused login", problems)
    # The link's other states: expired, then cancelled.
    await Invitation.update({Invitation.expires_at: Invitation.created_at}).where(
        Invitation.id == world["invitation"]
    )
    check(await http.get(f"/invite/{world['token']}"), "expired link", problems)
    with i18n.using(i18n.PSEUDO):
        await invitations.cancel(world["alpha"], world["invitation"], actor=ADMIN)
    check(await http.get(f"/invite/{world['token']}"), "cancelled link", problems)
    assert not problems, "\n".join(problems)


async def test_the_client_area_is_all_translated(http, pseudo, world):
    problems: list[str] = []
    await http.login(OWNER)
    await http.post(f"/accounts/{world['alpha']}/select")
    member = world["member"]["id"]
    for url in (
        "/accounts",
        "/account",
        "/account/profile",
        "/account/users",
        "/account/users/bulk",
        "/account/users/several",
        "/account/users/transfer",
        "/account/security",
        f"/account/users/{member}/permissions",
        f"/account/invites/{world['invitation']}/delivery",
    ):
        check(await http.get(url), url, problems)
    htmx = {"HX-Request": "true"}
    check(
        await http.post("/account/users/invite", {"email": "not an address"}, headers=htmx),
        "refused invite",
        problems,
    )
    check(
        await http.post(
            "/account/users/bulk/preview",
            {"addresses": "a@example.com, όχι, member@example.com"},
            headers=htmx,
        ),
        "bulk preview",
        problems,
    )
    check(
        await http.post("/account/users/several", {"email": "x@example.com"}, headers=htmx),
        "refused several",
        problems,
    )
    assert not problems, "\n".join(problems)


async def test_the_admin_area_is_all_translated(http, pseudo, world):
    problems: list[str] = []
    await log_in_as_staff(http, STAFF, "admin-passphrase-77", "Άδα", "full")
    alpha = world["alpha"]
    for url in (
        "/admin/clients",
        f"/admin/clients/{alpha}/users",
        f"/admin/clients/{alpha}/profile",
        f"/admin/clients/{alpha}/users/bulk",
        f"/admin/clients/{alpha}/users/several",
        "/admin/settings",
        "/admin/mail",
        "/admin/activity",
        "/admin/webhooks",
        "/admin/apps",
        "/admin/api",
        "/admin/users",
        f"/admin/users/{world['member']['id']}",
        "/admin/security",
        f"/admin/clients/{alpha}/invites/{world['invitation']}/delivery",
        "/admin/mail/1",
        "/admin/mail/1/delivery",
    ):
        check(await http.get(url), url, problems)
    assert not problems, "\n".join(problems)


async def test_every_email_is_translated(http, pseudo, world):
    """Emails of many kinds, written in the language of what sends them."""
    made = world
    with i18n.using(i18n.PSEUDO):
        guest = await make_user("Επισκέπτης", "Νέος", email=GUEST)
        await invitations.accept(made["token"], guest["id"], actor=user_actor(guest))
        expiring, _token = await invitations.invite(
            made["beta"], "late@example.com", ["quotes"], actor=made["actor"]
        )
        await Invitation.update({Invitation.expires_at: Invitation.created_at}).where(
            Invitation.id == expiring
        )
        await invitations.request_renewal(_token, ip="127.0.0.1")
    await http.post("/password/reset", {"email": OWNER})
    await http.post(
        "/register",
        {
            "first_name": "Νέα",
            "last_name": "Χρήστρια",
            "email": "new@example.com",
            "password": "lantern-meadow-47-x",
            "accept_tos": "on",
        },
    )
    problems: list[str] = []
    templates = set()
    for email in await OutboundEmail.select():
        templates.add(email["template"])
        for part, text in (
            ("subject", email["subject"]),
            ("text", email["text_body"]),
            ("html", email["html_body"]),
        ):
            if part == "html":
                if untranslated(text):
                    problems.append(f"{email['template']} html: {untranslated(text)}")
            elif leftovers(text):
                problems.append(f"{email['template']} {part}: {leftovers(text)!r}")
    assert {
        "invitation",
        "invite_accepted",
        "invite_renewal_requested",
        "password_reset",
    } <= templates, templates
    assert not problems, "\n".join(problems)


SKIPPED = ("/live/", "/static/", "/metrics", "/includes/", "/oauth/", "/.well-known/", "/api/")


async def test_every_page_of_the_route_table_is_translated(http, pseudo, world, allow_private):
    """Each GET route of the app, with the ids of what the test made: the staff member's for the
    admin area, the owner's for the client area, a visitor's elsewhere."""
    from app.asgi import create_app
    from app.domain.activity.services import Actor
    from app.domain.oauth import apps as oauth_apps
    from app.domain.presets import services as presets
    from app.domain.staff.services import create_admin
    from app.domain.webhooks import services as webhooks

    admin_id = await create_admin(
        email="zeta@example.com",
        password="admin-passphrase-77",
        name="Ζήτα",
        role="full",
        actor=ADMIN,
    )
    staff = Actor("admin", admin_id, "Ζήτα", "127.0.0.1")
    with i18n.using(i18n.PSEUDO):
        hook = await webhooks.create_endpoint(url="http://127.0.0.1:9/hooks", actor=staff)
        app = await oauth_apps.create_app(
            name="Εφαρμογή", redirect_uris="https://app.example.com/cb", actor=staff
        )
        preset = await presets.create_preset("Λογιστήριο", ["invoices"], actor=staff)
    ids = {
        "client_id": world["alpha"],
        "user_id": world["member"]["id"],
        "invitation_id": world["invitation"],
        "email_id": 1,
        "endpoint_id": hook.endpoint_id,
        "app_id": app.app_id,
        "preset_id": preset["id"],
        "token": "no-such-token",
    }
    paths = sorted({r.path for r in create_app().routes if "GET" in getattr(r, "methods", ())})
    problems: list[str] = []
    asked = 0
    for area in ("visitor", "client", "admin"):
        if area == "client":
            await http.login(OWNER)
            await http.post(f"/accounts/{world['alpha']}/select")
        if area == "admin":
            await http.post("/logout")
            await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Άδα", "full")
        for path in paths:
            mine = (
                "admin"
                if path.startswith("/admin")
                else ("client" if path.startswith("/account") else "visitor")
            )
            if mine != area or path.startswith(SKIPPED):
                continue
            url = re.sub(r"\{(\w+):\w+\}", lambda m: str(ids[m.group(1)]), path)
            response = await http.get(url)
            asked += 1
            if "text/html" in response.headers.get("content-type", ""):
                check(response, url, problems)
    assert asked > 40
    assert not problems, "\n".join(problems)


class Anything(str):
    """A value of an email's context, whatever the template asks of it (a text, a list, a
    record), written in Greek: data that cannot pass for English."""

    def __new__(cls):
        return super().__new__(cls, "Δεδομένα")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

    def __getitem__(self, key):
        return Anything()

    def __iter__(self):
        return iter([Anything(), Anything()])


def test_every_email_template_is_translated():
    """Each email (subject, text, HTML), each value it names given, in the pseudo-locale."""
    from jinja2 import meta

    from app.core.config import FRONTEND_DIR

    folder = FRONTEND_DIR / "templates" / "emails"
    names = sorted(p.name.removesuffix(".subject.txt") for p in folder.glob("*.subject.txt"))
    assert len(names) >= 15
    problems = []
    for name in names:
        wanted = set()
        for part in (f"{name}.subject.txt", f"{name}.txt", f"{name}.html"):
            source = (folder / part).read_text()
            wanted |= meta.find_undeclared_variables(mail._templates.parse(source))
        context = {key: Anything() for key in wanted - {"_", "gettext", "ngettext", "language"}}
        with i18n.using(i18n.PSEUDO):
            subject, text, html = mail.render_email(name, context)
        if leftovers(subject) or leftovers(text):
            problems.append(f"{name}: {leftovers(subject)!r} {leftovers(text)!r}")
        if untranslated(html):
            problems.append(f"{name} html: {untranslated(html)}")
    assert not problems, "\n".join(problems)
