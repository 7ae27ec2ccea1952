"""Bulk invite: a list of addresses (pasted, or a CSV file) previewed first, nothing written, then
sent in one transaction. Each row is decided by the single invite's own rules
(services.standing, the daily limit, the resend cooldown) and written by its own writing halves
(services.create_invitation, services.send_again), so one invite and five hundred say the same."""

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

from app.core import clock, db, permissions
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError
from app.core.i18n import N_, _, ngettext
from app.core.permissions import ALL_KEYS
from app.core.validation import clean_access_until, clean_email, clean_permissions
from app.domain.access.services import check_manager
from app.domain.activity.services import Actor
from app.domain.clients.services import check_open, get_client
from app.domain.invitations import services as invitations
from app.domain.presets import services as presets
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.users import User

MAX_ROWS = 500
MAX_LINE = 1_000  # characters in one line of a paste or a CSV file
MAX_BYTES = 512 * 1024  # a paste or a file: 500 rows of 1,000 characters, and a header

# What happens to a row. The first four are the single invite's standings (services.standing).
NEW_PERSON = invitations.NEW_PERSON
EXISTING_USER = invitations.EXISTING_USER
HAS_ACCESS = invitations.HAS_ACCESS
PENDING = invitations.PENDING
RESEND = "resend"
INVALID = "invalid"
DUPLICATE = "duplicate"
OVER_LIMIT = "over_limit"
OUTCOMES = (NEW_PERSON, EXISTING_USER, RESEND, HAS_ACCESS, PENDING, OVER_LIMIT, DUPLICATE, INVALID)
SENDS = (NEW_PERSON, EXISTING_USER, RESEND)

# What the preview says of each (what will happen) and the result (what happened): marked for
# the catalog, translated where they are shown (`_(will[row.outcome])`).
WILL = {
    NEW_PERSON: N_("Invite a new person"),
    EXISTING_USER: N_("Invite an existing user"),
    RESEND: N_("Resend the pending invite"),
    HAS_ACCESS: N_("Already has access"),
    PENDING: N_("Invite already pending"),
    OVER_LIMIT: N_("Over the daily limit"),
    DUPLICATE: N_("Duplicate in the list"),
    INVALID: N_("Invalid"),
}
DONE = {
    **WILL,
    NEW_PERSON: N_("Invited (new person)"),
    EXISTING_USER: N_("Invited (existing user)"),
    RESEND: N_("Invite sent again"),
}

# CSV columns: the email, then optional names and permissions or a preset (a header row names
# them).
EMAIL_COLUMNS = ("email", "email address", "e-mail", "address")
FIRST_COLUMNS = ("first name", "first_name", "firstname", "first")
LAST_COLUMNS = ("last name", "last_name", "lastname", "last", "surname")
PERMISSION_COLUMNS = ("permissions", "permission", "preset")

CSV_TYPES = (
    "text/csv",
    "text/plain",
    "application/csv",
    "application/vnd.ms-excel",  # what some browsers say of a .csv file
    "application/octet-stream",  # what others say of a file they do not know: read, then checked
    "",
)


@dataclass
class Entry:
    """One row of the list, as given: `permissions` None when the row names none (the form's
    choice applies)."""

    row: int
    address: str
    first_name: str = ""
    last_name: str = ""
    permissions: str | None = None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass
class Row:
    row: int
    email: str
    name: str
    outcome: str
    reason: str = ""
    permissions: tuple[str, ...] = ()
    user_id: int | None = None
    invitation_id: int | None = None


@dataclass
class Plan:
    """What a bulk invite does (a preview) or did (`sent`)."""

    rows: list[Row]
    limit: int
    sent_today: int
    cooldown_seconds: int
    resend_pending: bool
    sent: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def left_today(self) -> int:
        return max(0, self.limit - self.sent_today)

    @property
    def to_send(self) -> int:
        return sum(self.counts.get(kind, 0) for kind in SENDS)


# ---- reading the list --------------------------------------------------------------------


def _too_large(what: str) -> str:
    """`what`: "list" (pasted) or "file"."""
    if what == "list":
        message = ngettext(
            "The list is larger than %(kb)d KB: send at most %(num)d row.",
            "The list is larger than %(kb)d KB: send at most %(num)d rows.",
            MAX_ROWS,
        )
    else:
        message = ngettext(
            "The file is larger than %(kb)d KB: send at most %(num)d row.",
            "The file is larger than %(kb)d KB: send at most %(num)d rows.",
            MAX_ROWS,
        )
    return message % {"kb": MAX_BYTES // 1024, "num": MAX_ROWS}


def _checked_text(text: str, what: str) -> str:
    """`what`: "list" (pasted) or "file", as the messages name it."""
    if "\x00" in text:
        message = (
            _("The list contains NUL bytes: it is not a text list.")
            if what == "list"
            else _("The file contains NUL bytes: it is not a text list.")
        )
        raise DomainError(message, "addresses")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DomainError(_too_large(what), "addresses")
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE:
            if what == "list":
                message = ngettext(
                    "Line %(line)d of the list is longer than %(num)d character.",
                    "Line %(line)d of the list is longer than %(num)d characters.",
                    MAX_LINE,
                )
            else:
                message = ngettext(
                    "Line %(line)d of the file is longer than %(num)d character.",
                    "Line %(line)d of the file is longer than %(num)d characters.",
                    MAX_LINE,
                )
            raise DomainError(message % {"line": number, "num": MAX_LINE}, "addresses")
    return text


def _too_many(count: int) -> DomainError:
    return DomainError(
        ngettext(
            "The list has %(num)d row: at most %(max)d can be invited at once. "
            "Split it into smaller lists.",
            "The list has %(num)d rows: at most %(max)d can be invited at once. "
            "Split it into smaller lists.",
            count,
        )
        % {"num": count, "max": MAX_ROWS},
        "addresses",
    )


_NAMED = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>$", re.S)


def _items(line: str) -> list[str]:
    """A line split at commas and semicolons outside double quotes and angle brackets."""
    items: list[str] = []
    current: list[str] = []
    quoted = bracketed = False
    for char in line:
        if char == '"' and not bracketed:
            quoted = not quoted
        elif char == "<" and not quoted:
            bracketed = True
        elif char == ">" and not quoted:
            bracketed = False
        if char in ",;" and not quoted and not bracketed:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _split_name(name: str) -> tuple[str, str]:
    """ "Ana Lima" -> ("Ana", "Lima"); "Lima, Ana" (quoted) -> ("Ana", "Lima"); one word: first."""
    name = " ".join(name.strip().strip('"').split())
    if "," in name:
        last, _comma, first = name.partition(",")
        return first.strip(), last.strip()
    first, _space, last = name.rpartition(" ")
    return (first, last) if first else (last, "")


def read_addresses(text: str) -> list[Entry]:
    """A pasted list: one address per line, or several separated by commas or semicolons, each
    plain or as `Name <address>`."""
    text = _checked_text(text or "", "list")
    entries: list[Entry] = []
    for line in text.splitlines():
        for item in _items(line):
            found = _NAMED.match(item)
            if found:
                first, last = _split_name(found["name"])
                entries.append(Entry(len(entries) + 1, found["address"].strip(), first, last))
            else:
                entries.append(Entry(len(entries) + 1, item))
            if len(entries) > MAX_ROWS:
                raise _too_many(sum(len(_items(line)) for line in text.splitlines()))
    return entries


def decode_upload(data: bytes, filename: str = "", content_type: str = "") -> str:
    """An uploaded file's text: a CSV or plain-text file in UTF-8 (a byte-order mark allowed);
    anything else refused with what it is."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in CSV_TYPES and not kind.startswith("text/"):
        raise DomainError(
            _(
                "The file %(name)s is %(kind)s, not a CSV file: save the list as CSV "
                "(comma-separated values) and upload that."
            )
            % {"name": repr(filename[:80]), "kind": kind},
            "csv",
        )
    if len(data) > MAX_BYTES:
        raise DomainError(_too_large("file"), "csv")
    if b"\x00" in data:
        raise DomainError(
            _(
                "The file contains NUL bytes: it is not a CSV text file (a spreadsheet's own "
                "format?). Save it as CSV and upload that."
            ),
            "csv",
        )
    try:
        return codecs.decode(data.removeprefix(codecs.BOM_UTF8), "utf-8")
    except UnicodeDecodeError:
        raise DomainError(
            _("The file is not UTF-8 text: save it as CSV UTF-8 and upload that."), "csv"
        ) from None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for index, cell in enumerate(header):
        if cell.strip().lower() in names:
            return index
    return None


def read_csv(text: str) -> list[Entry]:
    """A CSV list: columns email, first name, last name and optionally permissions, in that
    order, or in any order under a header row that names them."""
    text = _checked_text(text or "", "file")
    first = text.lstrip().partition("\n")[0]
    delimiter = next((d for d in ",;\t" if d in first), ",")  # a spreadsheet's own choice
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(text), delimiter=delimiter)
            if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        problem = _("The file is not valid CSV: %(error)s.") % {"error": exc}
        raise DomainError(problem, "csv") from None
    if not rows:
        return []
    columns: list[int | None] = [0, 1, 2, 3]
    email_at = _column(rows[0], EMAIL_COLUMNS)
    if email_at is not None:
        header, rows = rows[0], rows[1:]
        columns = [
            email_at,
            _column(header, FIRST_COLUMNS),
            _column(header, LAST_COLUMNS),
            _column(header, PERMISSION_COLUMNS),
        ]
    if len(rows) > MAX_ROWS:
        raise _too_many(len(rows))

    def cell(row: list[str], at: int | None) -> str:
        return row[at].strip() if at is not None and at < len(row) else ""

    return [
        Entry(
            number,
            cell(row, columns[0]),
            cell(row, columns[1]),
            cell(row, columns[2]),
            cell(row, columns[3]) or None,
        )
        for number, row in enumerate(rows, 1)
    ]


def read_list(text: str = "", csv_text: str = "") -> list[Entry]:
    """The pasted list, then the CSV file's rows, numbered on; at most MAX_ROWS in all."""
    pasted = read_addresses(text) if text.strip() else []
    filed = read_csv(csv_text) if csv_text.strip() else []
    if len(pasted) + len(filed) > MAX_ROWS:
        raise _too_many(len(pasted) + len(filed))
    for entry in filed:
        entry.row += len(pasted)
    entries = pasted + filed
    if not entries:
        raise DomainError(_("Paste at least one email address, or upload a CSV file."), "addresses")
    return entries


def as_csv(entries: list[Entry]) -> str:
    """The list as read, written back as CSV with a header: what a preview's Send Invites
    carries, so that it sends exactly the rows previewed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "first name", "last name", "permissions"])
    for entry in entries:
        writer.writerow([entry.address, entry.first_name, entry.last_name, entry.permissions or ""])
    return out.getvalue()


# ---- deciding each row ---------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s;|,]+")


def row_permissions(
    entry: Entry, default: tuple[str, ...] | None, named: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """The permission keys a row gives: its own (keys separated by spaces, semicolons, commas or
    `|`, or "all"), else a preset's when the row names one (`named`: the presets' keys by name
    in lower case; keys come first, so a preset named like a key cannot change what the key
    means), else the form's `default`. The one place a row's permissions are resolved."""
    own = (entry.permissions or "").strip()
    if not own:
        if default is None:
            raise DomainError(_("No permissions: choose them for the rows that name none."))
        return default
    if own.lower() == "all":
        return ALL_KEYS
    try:
        return clean_permissions(_SEPARATORS.split(own))
    except DomainError:
        if own.casefold() in named:
            return named[own.casefold()]
        raise


def clean_default(keys, entries: list[Entry]) -> tuple[str, ...] | None:
    """The form's choice of permissions, for the rows without their own: None when none was
    chosen, which only a list whose every row names its own may do."""
    if not [k for k in keys or () if k and k.strip()]:
        if any(not (entry.permissions or "").strip() for entry in entries):
            raise DomainError(
                _("Choose at least one permission for the rows that name none."), "permissions"
            )
        return None
    return clean_permissions(keys)


async def _plan(
    client: dict,
    entries: list[Entry],
    default: tuple[str, ...] | None,
    *,
    resend_pending: bool,
    now,
) -> tuple[Plan, dict[str, dict], dict[str, dict]]:
    """Every row decided, in five statements whatever the list's length (six when rows name
    their own permissions: the presets). Also returns the users and the open invitations found,
    by email key, for the writing."""
    named = {}
    if any((entry.permissions or "").strip() for entry in entries):
        named = await presets.keys_by_name()
    rows: list[Row] = []
    first_at: dict[str, int] = {}
    valid: list[tuple[Row, str]] = []
    for entry in entries:
        try:
            email, key = clean_email(entry.address)
            keys = row_permissions(entry, default, named)
        except DomainError as exc:
            rows.append(Row(entry.row, entry.address, entry.name, INVALID, exc.message))
            continue
        row = Row(entry.row, email, entry.name, NEW_PERSON, permissions=keys)
        rows.append(row)
        if key in first_at:
            row.outcome = DUPLICATE
            row.reason = _("The same address as row %(row)d.") % {"row": first_at[key]}
            continue
        first_at[key] = entry.row
        valid.append((row, key))
    wanted = list(first_at)
    users: dict[str, dict] = {}
    reaching: set[int] = set()
    open_invites: dict[str, dict] = {}
    if wanted:
        for found in await User.select(
            User.id, User.email_key, User.first_name, User.last_name
        ).where(User.email_key.is_in(wanted)):
            users[found["email_key"]] = found
        if users:
            reaching = {
                grant["user"]
                for grant in await Grant.select(Grant.user).where(
                    (Grant.client == client["id"])
                    & Grant.user.is_in([u["id"] for u in users.values()])
                )
            }
        for open_invite in await Invitation.select().where(
            (Invitation.client == client["id"])
            & Invitation.email_key.is_in(wanted)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
        ):
            open_invites[open_invite["email_key"]] = open_invite
    plan = Plan(
        rows,
        invitations.daily_invite_limit(),
        await invitations.invites_sent_today(client["id"], now),
        int(invitations.resend_cooldown().total_seconds()),
        resend_pending,
    )
    left = plan.left_today
    for row, key in valid:
        user: dict | None = users.get(key)
        invite: dict | None = open_invites.get(key)
        if user is not None:
            row.user_id = user["id"]
            row.name = f"{user['first_name']} {user['last_name']}".strip()
        row.outcome = invitations.standing(user, row.user_id in reaching, invite, now)
        if row.outcome == PENDING:
            assert invite is not None
            row.invitation_id = invite["id"]
            row.permissions = permissions.deserialize(invite["permissions"])  # a resend keeps them
            wait = invitations.resend_wait(invite, now)
            if not resend_pending:
                row.reason = _("Not sent again: choose Resend pending invites to send it again.")
            elif wait:
                row.reason = invitations.sent_moments_ago(row.email, wait)
            else:
                row.outcome = RESEND
        elif row.outcome in (NEW_PERSON, EXISTING_USER):
            if invite is not None:
                row.reason = _("Replaces an expired invite.")
            if left <= 0:
                row.outcome, row.reason = OVER_LIMIT, invitations.daily_limit_reached()
            left -= 1
    plan.counts = {kind: sum(1 for r in rows if r.outcome == kind) for kind in OUTCOMES}
    return plan, users, open_invites


async def _checked_client(client_id: int, actor: Actor, *, lock: bool) -> dict:
    client = await get_client(client_id, lock=lock)
    await check_manager(actor, client)
    check_open(client)
    return client


async def preview(
    client_id: int,
    entries: list[Entry],
    default_permissions,
    *,
    actor: Actor,
    resend_pending: bool = False,
    access_until=None,
) -> Plan:
    """What sending the list would do, row by row, with counts: nothing is written."""
    now = clock.now()
    clean_access_until(access_until, now)
    default = clean_default(default_permissions, entries)
    client = await _checked_client(client_id, actor, lock=False)
    plan, _users, _open_invites = await _plan(
        client, entries, default, resend_pending=resend_pending, now=now
    )
    return plan


async def send(
    client_id: int,
    entries: list[Entry],
    default_permissions,
    *,
    actor: Actor,
    resend_pending: bool = False,
    access_until=None,
) -> Plan:
    """Sends the list: decided again under the account's lock (what changed since the preview
    counts), then every invitation and resend of it, with its email and event, in one
    transaction: all or nothing. Sent again, the same list sends nothing new."""
    now = clock.now()
    until = clean_access_until(access_until, now)
    default = clean_default(default_permissions, entries)
    try:
        async with db.transaction():
            client = await _checked_client(client_id, actor, lock=True)
            plan, users, open_invites = await _plan(
                client, entries, default, resend_pending=resend_pending, now=now
            )
            settings = await invitations.email_settings() if plan.to_send else None
            invited = [row for row in plan.rows if row.outcome in (NEW_PERSON, EXISTING_USER)]
            made = (
                await invitations.create_invitations(
                    client,
                    [
                        invitations.NewInvitation(
                            row.email,
                            row.email.casefold(),
                            row.permissions,
                            users.get(row.email.casefold()),
                            open_invites.get(row.email.casefold()),
                        )
                        for row in invited
                    ],
                    actor=actor,
                    now=now,
                    until=until,
                    settings=settings,
                )
                if invited
                else []
            )
            for row, (invitation_id, _token) in zip(invited, made, strict=True):
                row.invitation_id = invitation_id
            for row in plan.rows:
                if row.outcome == RESEND:
                    await invitations.send_again(
                        client,
                        open_invites[row.email.casefold()],
                        actor=actor,
                        now=now,
                        settings=settings,
                    )
    except Exception as exc:
        if is_unique_violation(exc):  # an invite made meanwhile (the lock makes it unlikely)
            raise DomainError(
                _(
                    "Another invite to one of these addresses was sent meanwhile: nothing was "
                    "sent. Preview the list again."
                )
            ) from exc
        raise
    plan.sent = True
    return plan
