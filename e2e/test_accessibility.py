"""axe-core on every screen of Roster and every dialog open, at 1280 px (a few at 390 px too): no
serious or critical violation anywhere.

Each entry of SCREENS is one scan (one test): who looks (a role, one logged-in browser context
each, reused from scan to scan), where (a path, which may name the ids and tokens made by
`world`), and optionally what to do there first (open a dialog, submit a form). A new screen is
one more line. On a failure the report names each rule, its impact, the elements (selector and
HTML) and the rule's help page.

AXE_REPORT=path.json writes every finding (all impacts) of the run to that file, per screen;
AXE_SCREENSHOTS=dir keeps a full-page screenshot of each screen as scanned.
"""

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    OWNER_PASSWORD,
    SUPPORT_EMAIL,
    SUPPORT_PASSWORD,
    login,
)
from playwright.sync_api import Page, expect

WIDTH, HEIGHT = 1280, 800
FAILING_IMPACTS = ("serious", "critical")
AXE = Axe()

OWNER = "axe.owner@e2e.example"
MEMBER = "axe.member@e2e.example"  # one account, two permissions: the plainest account home
UNDONE = "axe.undone@e2e.example"  # removed on screen, for the message with Undo
RESETTER = "axe.reset@e2e.example"
NEW_PASSWORD = "axe-lantern-meadow-47"


# What the screens need: an account with its owner and a member, invitations, a reset link.


class World:
    def __init__(self, roster, smtp_inbox, base_url: str) -> None:
        self.roster, self.inbox, self.base_url = roster, smtp_inbox, base_url
        self.client_id = roster.create_client("Axe Hosting", OWNER, "Ava")
        roster.create_client("Axe Reset Ltd", RESETTER, "Rex")
        # A closed and an inactive account, listed with their status badges.
        for company, owner, status in (
            ("Axe Closed Co", "axe.closed@e2e.example", "Closed"),
            ("Axe Dormant Co", "axe.dormant@e2e.example", "Inactive"),
        ):
            listed = roster.create_client(company, owner, "Cleo")
            roster.sql("UPDATE clients SET status = ? WHERE id = ?", status, listed)
        owner_id, password_hash = roster.sql(
            "SELECT id, password_hash FROM users WHERE email_key = ?", OWNER
        )[0]
        now = datetime.now(UTC)
        # A member with the owner's password (the same hash): one account, a few permissions.
        roster.sql(
            "INSERT INTO users (first_name, last_name, email, email_key, password_hash, created_at)"
            " VALUES ('Max', 'Member', ?, ?, ?, ?)",
            MEMBER,
            MEMBER,
            password_hash,
            str(now),
        )
        self.member_id = roster.sql("SELECT id FROM users WHERE email_key = ?", MEMBER)[0][0]
        roster.sql(
            "INSERT INTO grants (user, client, permissions, created_at, updated_at)"
            " VALUES (?, ?, 'invoices,tickets', ?, ?)",
            self.member_id,
            self.client_id,
            str(now),
            str(now),
        )
        # Another member, removed by the scan of the message with Undo (Max stays for the rest).
        roster.sql(
            "INSERT INTO users (first_name, last_name, email, email_key, password_hash, created_at)"
            " VALUES ('Una', 'Undo', ?, ?, ?, ?)",
            UNDONE,
            UNDONE,
            password_hash,
            str(now),
        )
        undone_id = roster.sql("SELECT id FROM users WHERE email_key = ?", UNDONE)[0][0]
        roster.sql(
            "INSERT INTO grants (user, client, permissions, created_at, updated_at)"
            " VALUES (?, ?, 'domains', ?, ?)",
            undone_id,
            self.client_id,
            str(now),
            str(now),
        )
        # A pending invitation (its link works) and a cancelled one (its link does not).
        self.invite_token = self._invite("axe.invitee@e2e.example", owner_id, now)
        self.cancelled_token = self._invite("axe.gone@e2e.example", owner_id, now, cancelled=True)
        self._reset_link: str | None = None

    def _invite(self, email: str, owner_id: int, now: datetime, cancelled: bool = False) -> str:
        token = secrets.token_urlsafe(32)
        self.roster.sql(
            "INSERT INTO invitations (client, email, email_key, permissions, token_hash,"
            " invited_by_user, sender_name, created_at, last_sent_at, times_sent, expires_at,"
            " cancelled_at) VALUES (?, ?, ?, 'invoices,quotes,tickets', ?, ?, 'Ava Owner', ?, ?,"
            " 1, ?, ?)",
            self.client_id,
            email,
            email,
            hashlib.sha256(token.encode()).hexdigest(),
            owner_id,
            str(now),
            str(now),
            str(now + timedelta(days=7)),
            str(now) if cancelled else None,
        )
        return token

    @property
    def mail_id(self) -> int:
        return self.roster.sql("SELECT max(id) FROM outbound_emails")[0][0]

    def reset_link(self, page: Page) -> str:
        """The reset link emailed to RESETTER, asked for on `page` if nobody asked yet."""
        if self._reset_link is None:
            request_reset(page, self.base_url)
            text = self.inbox.text_of(self.inbox.wait_for(RESETTER, "password"))
            self._reset_link = re.search(r"http://\S+/password/reset/\S+", text).group(0)
        return self._reset_link


def request_reset(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/password/reset")
    page.get_by_label("Email Address").fill(RESETTER)
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_text(f"If a login exists for {RESETTER}")).to_be_visible()


# What to do on a screen before the scan.


def control(page: Page, name: str | re.Pattern):
    """The first button of that name, or the <summary> of a menu (no ARIA role of its own:
    found by its aria-label)."""
    summary = page.locator("summary").and_(page.get_by_label(name))
    return page.get_by_role("button", name=name).or_(summary).first


def open_dialog(*buttons: str | re.Pattern, then: Callable[[Page], None] | None = None):
    """Clicks the first button of each name in turn (a menu, then its item, say); the scan waits
    for the open dialog's heading, and for `then` (what to do inside it), if given."""

    def action(page: Page, world: World) -> None:
        for button in buttons:
            control(page, button).click()
        dialog = page.locator("dialog[open]")
        expect(dialog).to_have_count(1)
        expect(dialog.get_by_role("heading").first).to_be_visible()
        if then:
            then(page)

    return action


def invite_until_open(page: Page, world: World) -> None:
    """A pending invite's Access until menu, opened from its row."""
    control(page, re.compile("^Access until of the invite to axe.invitee")).click()
    expect(page.locator("form.invite-until").get_by_label("Access until")).to_be_visible()


def search_users(page: Page) -> None:
    page.locator("dialog[open]").get_by_label("Select User").fill("e2e")
    expect(page.locator("dialog[open]").get_by_text(OWNER).first).to_be_visible()


def choose_with_arrow(page: Page) -> None:
    """Select User with its list open and an option made active with Arrow Down."""
    search_users(page)
    box = page.locator("dialog[open]").get_by_role("combobox", name="Select User")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.locator("dialog[open] [role=option][aria-selected=true]")).to_have_count(1)


def open_menu(summary: str | re.Pattern):
    """Opens a row's More menu (a <details>): the scan waits for its panel."""

    def action(page: Page, world: World) -> None:
        control(page, summary).click()
        expect(page.locator("details.menu[open] .menu-panel")).to_be_visible()

    return action


def account_menu_open(page: Page, world: World) -> None:
    """The account menu opened from the keyboard: focus on its first item."""
    page.locator("summary", has_text="Hello, Ava!").press("ArrowDown")
    expect(page.get_by_role("menuitem").first).to_be_focused()


def removed_with_undo(page: Page, world: World) -> None:
    """Una Undo removed from the account: the message in #flash offers Undo."""
    control(page, re.compile("^More actions for Una")).click()
    page.get_by_role("button", name="Remove Access", exact=True).click()
    page.locator("#confirm-dialog").get_by_role("button", name="Remove Access").click()
    expect(page.locator("#flash").get_by_role("button", name="Undo")).to_be_visible()


def reset_sent(page: Page, world: World) -> None:
    world.reset_link(page)  # the form sent (the page shows the "on its way" message)


def reset_form(page: Page, world: World) -> None:
    page.goto(world.reset_link(page))
    expect(page.get_by_role("button", name="Save Password")).to_be_visible()


def reset_done(page: Page, world: World) -> None:
    reset_form(page, world)
    page.get_by_label("New Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save Password").click()
    page.wait_for_url("**/password/changed")


# Every screen.


@dataclass(frozen=True)
class Screen:
    name: str
    role: str  # a key of ROLES
    path: str | None  # formatted with the World's attributes; None: `action` goes there
    action: Callable[[Page, World], None] | None = None
    status: int = 200
    width: int = WIDTH  # of the viewport, in CSS pixels

    def __str__(self) -> str:
        return self.name


ROLES = {
    "anonymous": None,
    "member": (MEMBER, OWNER_PASSWORD, "/login"),
    "owner": (OWNER, OWNER_PASSWORD, "/login"),
    "staff": (ADMIN_EMAIL, ADMIN_PASSWORD, "/admin/login"),
    "support": (SUPPORT_EMAIL, SUPPORT_PASSWORD, "/admin/login"),
}

MANAGE_PERMISSIONS = re.compile(r"^Manage Permissions")

SCREENS = [
    # Nobody logged in.
    Screen("login", "anonymous", "/login"),
    Screen("admin login", "anonymous", "/admin/login"),
    Screen("register", "anonymous", "/register"),
    Screen("terms", "anonymous", "/terms"),
    Screen("reset request", "anonymous", "/password/reset"),
    Screen("reset request sent", "anonymous", None, reset_sent),
    Screen("reset complete (form)", "anonymous", None, reset_form),
    Screen("reset link no longer valid", "anonymous", "/password/reset/not-a-token", status=404),
    Screen("invite (valid, logged out)", "anonymous", "/invite/{invite_token}"),
    Screen("invite (cancelled)", "anonymous", "/invite/{cancelled_token}", status=410),
    Screen("no pending invite (unknown)", "anonymous", "/invite/no-such-token", status=404),
    Screen("404", "anonymous", "/no-such-page", status=404),
    Screen("reset complete (password changed)", "anonymous", None, reset_done),
    # A user of one account with a few permissions.
    Screen("account home (few permissions)", "member", "/account"),
    Screen("choose account (member)", "member", "/accounts"),
    Screen("invite (valid, logged in)", "member", "/invite/{invite_token}"),
    Screen("error: access denied", "member", "/account/users", status=403),
    # The account's owner.
    Screen("choose account (owner)", "owner", "/accounts"),
    Screen("account home (owner)", "owner", "/account"),
    Screen("account home: account menu open", "owner", "/account", account_menu_open),
    Screen("profile", "owner", "/account/profile"),
    Screen("user management", "owner", "/account/users"),
    Screen(
        "user management: Manage Permissions",
        "owner",
        "/account/users",
        open_dialog(MANAGE_PERMISSIONS),
    ),
    Screen(
        "user management: confirm Remove Access",
        "owner",
        "/account/users",
        open_dialog(re.compile("^More actions for Max"), re.compile("^Remove Access$")),
    ),
    Screen(
        "user management: confirm Cancel Invite",
        "owner",
        "/account/users",
        open_dialog(re.compile("^Cancel Invite to axe.invitee")),
    ),
    Screen("user management: invite's Access until", "owner", "/account/users", invite_until_open),
    Screen("transfer ownership (page, without script)", "owner", "/account/users/transfer"),
    Screen("user management at 390 px", "owner", "/account/users", width=390),
    Screen("user management: message with Undo", "owner", "/account/users", removed_with_undo),
    # Staff (Full Administrator).
    Screen("clients", "staff", "/admin/clients"),
    Screen("clients: New Client", "staff", "/admin/clients", open_dialog(re.compile("New Client"))),
    Screen("client users tab", "staff", "/admin/clients/{client_id}/users"),
    Screen(
        "ownership transfer (page, without script)", "staff", "/admin/clients/{client_id}/transfer"
    ),
    Screen(
        "client users tab: Associate User",
        "staff",
        "/admin/clients/{client_id}/users",
        open_dialog(re.compile("Associate User")),
    ),
    Screen(
        "client users tab: Associate User, results",
        "staff",
        "/admin/clients/{client_id}/users",
        open_dialog(re.compile("Associate User"), then=search_users),
    ),
    Screen(
        "client users tab: Manage Permissions",
        "staff",
        "/admin/clients/{client_id}/users",
        open_dialog(MANAGE_PERMISSIONS),
    ),
    Screen(
        "client users tab: Associate User, option active",
        "staff",
        "/admin/clients/{client_id}/users",
        open_dialog(re.compile("Associate User"), then=choose_with_arrow),
    ),
    Screen(
        "client users tab: row menu open",
        "staff",
        "/admin/clients/{client_id}/users",
        open_menu(re.compile("^More actions for Max")),
    ),
    Screen(
        "client users tab: confirm Remove",
        "staff",
        "/admin/clients/{client_id}/users",
        open_dialog(re.compile("^More actions for Max"), re.compile("^Remove$")),
    ),
    Screen("client users tab at 390 px", "staff", "/admin/clients/{client_id}/users", width=390),
    Screen("manage users", "staff", "/admin/users"),
    Screen("manage users: one user", "staff", "/admin/users/{member_id}"),
    Screen("activity", "staff", "/admin/activity"),
    Screen("mail", "staff", "/admin/mail"),
    Screen("mail: one message", "staff", "/admin/mail/{mail_id}"),
    Screen("settings", "staff", "/admin/settings"),
    Screen("webhooks", "staff", "/admin/webhooks"),
    Screen("apps", "staff", "/admin/apps"),
    Screen("admin 404", "staff", "/admin/clients/999999/users", status=404),
    # Staff (Support Operator: sees everything, changes nothing).
    Screen("client users tab (support)", "support", "/admin/clients/{client_id}/users"),
    Screen("manage users: one user (support)", "support", "/admin/users/{member_id}"),
    Screen("settings (support)", "support", "/admin/settings"),
]


@pytest.fixture(scope="module")
def world(roster, smtp_inbox, server) -> World:
    return World(roster, smtp_inbox, server)


@pytest.fixture(scope="module")
def pages(browser, server):
    """One browser context per role, logged in on first use, at 1280 px."""
    opened: dict[str, Page] = {}
    contexts = []

    def page_for(role: str) -> Page:
        if role not in opened:
            context = browser.new_context(
                base_url=server, viewport={"width": WIDTH, "height": HEIGHT}
            )
            contexts.append(context)
            page = context.new_page()
            if ROLES[role]:
                email, password, path = ROLES[role]
                login(page, server, email, password, path=path)
            opened[role] = page
        return opened[role]

    yield page_for
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def findings():
    """Every finding of the run by screen; written to $AXE_REPORT if set."""
    found: dict[str, list] = {}
    yield found
    if os.environ.get("AXE_REPORT"):
        with open(os.environ["AXE_REPORT"], "w") as out:
            json.dump(found, out, indent=2)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}\n  {v['helpUrl']}")
        for node in v["nodes"]:
            lines.append(f"  - {', '.join(map(str, node['target']))}\n    {node['html'][:300]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"    {summary[:400]}")
    return "\n".join(lines)


@pytest.mark.parametrize("screen", SCREENS, ids=str)
def test_no_serious_or_critical_axe_violations(screen: Screen, world, pages, findings, server):
    page = pages(screen.role)
    page.set_viewport_size({"width": screen.width, "height": HEIGHT})
    if screen.path is not None:
        response = page.goto(server + screen.path.format(**vars(world), mail_id=world.mail_id))
        assert response.status == screen.status, f"{screen.path}: {response.status}"
    if screen.action:
        screen.action(page, world)
    assert page.locator("main").count() == 1, "one <main> per page"

    if os.environ.get("AXE_SCREENSHOTS"):
        name = re.sub(r"[^a-z0-9]+", "-", screen.name.lower()).strip("-")
        page.screenshot(path=f"{os.environ['AXE_SCREENSHOTS']}/{name}.png", full_page=True)

    violations = AXE.run(page).response["violations"]
    findings[screen.name] = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "helpUrl": v["helpUrl"],
            "nodes": [", ".join(map(str, n["target"])) for n in v["nodes"]],
        }
        for v in violations
    ]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe on {screen.name} ({page.url}):\n{describe(failing)}"
