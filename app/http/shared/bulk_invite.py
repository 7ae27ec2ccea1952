"""Bulk Invite, shared by staff's Users tab and the owner's User Management: a pasted list or a CSV
file, Preview (nothing written), then Send Invites with exactly the rows previewed."""

from litestar import Request, Response
from litestar.datastructures import UploadFile

from app.core.errors import DomainError
from app.core.i18n import _, ngettext
from app.domain.access import services as access
from app.domain.clients.services import display_name, get_client
from app.domain.invitations import bulk
from app.domain.staff.services import invite_lifetime_days
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, render, wants_fragment
from app.http.shared.account_users import chosen_keys, offered_presets

TEMPLATE = "shared/bulk_invite.html"
# A paste and a file of MAX_BYTES each, and the form's other fields.
BODY_LIMIT = 2 * bulk.MAX_BYTES + 64 * 1024
FIELDS = ("addresses", "csv", "permissions", "access_until", "form")


class _Form:
    """The form as sent: text fields, the permission boxes, and the CSV file's text."""

    def __init__(self, values: dict, keys: list[str], csv_text: str, filename: str) -> None:
        self.values, self.keys, self.csv_text, self.filename = values, keys, csv_text, filename

    async def default_permissions(self) -> list[str]:
        """For the rows that name none: All Permissions (also when no scope is sent), a
        preset's keys as they are now, or the ticked boxes."""
        scope = self.values.get("scope") or "all"
        return await chosen_keys({**self.values, "scope": scope}, self.keys)

    @property
    def resend_pending(self) -> bool:
        return self.values.get("resend_pending") in ("1", "on", "yes")

    @property
    def access_until(self) -> str | None:
        return self.values.get("access_until") or None


async def _read(request: Request) -> _Form:
    """The form, a file only in the CSV field (anything else a file is refused, as read_form
    does); the file read whole (the route's body limit bounds it) and turned into text."""
    form = await request.form()
    values: dict[str, str] = {}
    csv_text, filename = "", ""
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != "csv_file":
                raise DomainError(
                    _("The field %(field)s must be text, not a file.") % {"field": repr(key[:40])},
                    "form",
                )
            data = await value.read()
            if value.filename or data:
                filename = value.filename or _("the file")
                csv_text = bulk.decode_upload(data, filename, value.content_type or "")
        elif key != "permissions":
            values[key] = value
    keys = form.getall("permissions") if "permissions" in form else []
    keys = [key for key in keys if isinstance(key, str)]
    return _Form(values, keys, csv_text, filename)


def _entries(form: _Form) -> list[bulk.Entry]:
    """The rows: those a preview carries (`entries`, as bulk.as_csv wrote them) when sending,
    else the paste and the file."""
    if "entries" in form.values:
        return bulk.read_csv(form.values["entries"])
    return bulk.read_list(form.values.get("addresses", ""), form.csv_text)


async def context(request: Request, client_id: int, *, base: str, area: str) -> dict:
    client = await get_client(client_id)
    return {
        "presets": await offered_presets(request),
        "valid_for": bulk.invitations.lifetime_text(await invite_lifetime_days()),
        "client": client,
        "client_name": display_name(client),
        "account_name": display_name(client),
        "base": base,
        "area": area,
        "form": {},
        "errors": {},
        "plan": None,
        "limit": bulk.invitations.daily_invite_limit(),
        "max_rows": bulk.MAX_ROWS,
        "will": {kind: _(said) for kind, said in bulk.WILL.items()},
        "done": {kind: _(said) for kind, said in bulk.DONE.items()},
    }


async def page(request: Request, client_id: int, *, base: str, area: str) -> Response:
    shown = await context(request, client_id, base=base, area=area)
    await access.check_manager(viewer_of(request).actor, shown["client"])
    return render(request, TEMPLATE, shown)


async def run(request: Request, client_id: int, *, base: str, area: str, send: bool) -> Response:
    """Preview (`send` False) or Send Invites: the page's bulk region (the whole page without
    htmx) with the table of rows, or the form with what was refused."""
    shown = await context(request, client_id, base=base, area=area)
    form = None
    try:
        form = await _read(request)
        shown["form"] = {**form.values, "permissions": form.keys}
        entries = _entries(form)
        action = bulk.send if send else bulk.preview
        plan = await action(
            client_id,
            entries,
            await form.default_permissions(),
            actor=viewer_of(request).actor,
            resend_pending=form.resend_pending,
            access_until=form.access_until,
        )
    except DomainError as exc:
        field = exc.field if exc.field in FIELDS else "form"
        shown["errors"] = {field: exc.message}
        return _answer(request, shown, status=422)
    shown.update(plan=plan, entries=bulk.as_csv(entries), filename=form.filename)
    if send:
        shown["form"] = {}
        flash(request, sent_message(plan))
    return _answer(request, shown)


def sent_message(plan: bulk.Plan) -> str:
    invited = plan.counts.get(bulk.NEW_PERSON, 0) + plan.counts.get(bulk.EXISTING_USER, 0)
    resent = plan.counts.get(bulk.RESEND, 0)
    if not invited and not resent:
        return _("Nothing new to send: every row was sent already or cannot be invited.")
    if resent:
        return ngettext(
            "%(num)d invite sent, %(again)d sent again.",
            "%(num)d invites sent, %(again)d sent again.",
            invited,
        ) % {"num": invited, "again": resent}
    return ngettext("%(num)d invite sent.", "%(num)d invites sent.", invited) % {"num": invited}


def _answer(request: Request, shown: dict, status: int = 200) -> Response:
    block = "bulk" if wants_fragment(request) else None
    return render(request, TEMPLATE, shown, block=block, status=status)
