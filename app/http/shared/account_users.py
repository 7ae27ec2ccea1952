"""The account-users section shared by the admin Users tab and the client User Management page:
users with their permissions, pending invites, and the in-place actions on them."""

from datetime import datetime, timedelta

import msgspec
from litestar import Request, Response
from markupsafe import Markup

from app.core import clock, i18n
from app.core.errors import DomainError, NotFound, Throttled
from app.core.i18n import N_, _, ngettext
from app.core.permissions import ALL_KEYS, LABELS
from app.core.stale import Stale, unchanged
from app.domain.access import services as access
from app.domain.access.undo import removal_token
from app.domain.clients.services import display_name
from app.domain.invitations import services as invitations
from app.domain.presets import services as presets
from app.domain.users.services import full_name
from app.http.plumbing.forms import read_form, read_list
from app.http.plumbing.kept import KeptCache
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import (
    flash,
    flash_refusal,
    html_response,
    render,
    render_block,
    wants_fragment,
)
from app.http.plumbing.stale import (
    GRANTED,
    OPENED,
    conflict,
    opened_field,
    read_opened,
    said,
    told,
)

SECTION = "shared/account_users.html"
# The section's lists that a search or a pager re-renders alone.
PARTS = ("people", "invites")


def part_asked(request: Request, part: str) -> str:
    """The one list an htmx search or pager asks for; "" for the whole page."""
    return part if part in PARTS and wants_fragment(request) else ""


async def section_context(
    client_id: int,
    *,
    base: str,
    area: str,
    can_manage: bool,
    query: str = "",
    after: int = 0,
    invites_after: int = 0,
    part: str = "",
) -> dict:
    """The account, a page of its users and a page of its open invites: two statements; one
    when only the users' list (`part` "people") is asked for."""
    people = await access.account_people(client_id, query=query, after=after)
    invites: list[dict] = []
    next_invites: int | None = None
    if part != "people":
        invites, next_invites = await invitations.open_invites_page(client_id, after=invites_after)
    return {
        "client": people.client,
        "users": people.users,
        "user_count": people.user_count,
        "requires_two_factor": people.client["require_two_factor"],
        "without_two_factor": people.without_two_factor,
        "users_after": people.more_after,
        "users_query": query,
        "users_paged": bool(after),
        "users_from": after,
        "invites_from": invites_after,
        "invites": invites,
        "invites_after": next_invites,
        "invites_paged": bool(invites_after),
        "account_name": display_name(people.client),
        "base": base,
        "area": area,
        "can_manage": can_manage,
    }


# The rendered section (or the one list a search or pager asks for), kept per process and
# shown again while the account's version (which triggers replace on every change to what the
# section shows; read with the session, app.domain.auth.services.load_viewer) is the same: a hit
# runs one statement (the viewer's) and renders nothing of the section. At most this many bytes of
# HTML kept per process (a Users tab of 25 users is about 25 KB as a section), least recently
# used first out; and at most SECTION_CACHE_ENTRIES sections.
SECTION_CACHE_BYTES = 16 * 1024 * 1024
SECTION_CACHE_ENTRIES = 512
# Relative times in the rows ("Invite Sent: 2 minutes ago", "expires in 6 days") and an invite
# turning Expired depend on the clock, not on a change: an entry lasts at most this long, and
# never past the moment one of its invites expires.
SECTION_CACHE_TTL = timedelta(seconds=10)

SECTION_CACHE = KeptCache("sections", SECTION_CACHE_BYTES, SECTION_CACHE_ENTRIES)


class KeptSection(msgspec.Struct):
    """What a page needs of a kept section: the account (its header) and the HTML, as sent
    (UTF-8: encoding a page's text again was a tenth of a kept render), and until when it is
    true (a page around it is kept no longer: app.http.plumbing.kept.keep_answer)."""

    client: dict
    account_name: str
    body: bytes
    until: datetime

    @property
    def html(self) -> Markup:
        return Markup(self.body.decode())

    def size(self) -> int:
        return len(self.body)


async def kept_section(
    client_id: int,
    version: int | None,
    *,
    base: str,
    area: str,
    can_manage: bool,
    query: str = "",
    after: int = 0,
    invites_after: int = 0,
    part: str = "",
) -> KeptSection:
    """The section's HTML (block `part`, else the whole section), from the cache when the
    account's version read with this request's session is the one it was kept under; else
    rendered (two statements) and kept. `version` None (no version read): always rendered."""
    key = (
        i18n.current().code,
        client_id,
        version,
        base,
        area,
        can_manage,
        query,
        after,
        invites_after,
        part,
    )
    now = clock.now()
    if version is not None:
        kept = SECTION_CACHE.get(key, now)
        if kept is not None:
            return kept
    section = await section_context(
        client_id,
        base=base,
        area=area,
        can_manage=can_manage,
        query=query,
        after=after,
        invites_after=invites_after,
        part=part,
    )
    until = now + SECTION_CACHE_TTL
    for invite in section["invites"]:
        if invite["expires_at"] is not None and now < invite["expires_at"] < until:
            until = invite["expires_at"]
    kept = KeptSection(
        section["client"],
        section["account_name"],
        render_block(SECTION, part or "section", section).encode(),
        until,
    )
    if version is not None:
        SECTION_CACHE.put(key, kept, until)
    return kept


async def render_section(
    request: Request,
    client_id: int,
    *,
    base: str,
    area: str,
    can_manage: bool = True,
    status: int = 200,
    sent_link: dict | None = None,
) -> Response:
    """The section alone, from its first pages (after an action in it); `sent_link`: the link
    of the invitation just sent or resent, shown above it (see sent_link)."""
    context = await section_context(client_id, base=base, area=area, can_manage=can_manage)
    context["sent_link"] = sent_link
    return render(request, SECTION, context, block="section", status=status)


def sent_link(
    invitation_id: int | None, token: str, email: str, *, expires_at=None, days: int | None = None
) -> dict | None:
    """What the confirmation of Send or Resend shows of the link (its token in clear, in this
    one answer only: never kept, logged or stored), or None when no invitation was sent."""
    if not invitation_id or not token:
        return None
    return {
        "invitation_id": invitation_id,
        "email": email,
        "url": invitations.accept_url(token),
        "expires_at": expires_at,
        "days": days,
    }


async def link_of(invitation_id: int | None, token: str, email: str) -> dict | None:
    """sent_link for an invitation sent just now (its expiry read back: one statement)."""
    if not invitation_id or not token:
        return None
    row = await invitations.invitation_expiry(invitation_id)
    return sent_link(invitation_id, token, email, expires_at=row[0], days=row[1])


async def run_action(
    request: Request, client_id: int, action, confirm, *, base: str, area: str, link=None
) -> Response:
    """Runs one service call and answers with the refreshed section; `confirm(result)` says
    what was done (naming whom), or the refusal is said instead. `link(result)`: the link of
    the invitation it sent, shown with the confirmation."""
    try:
        result = await action(viewer_of(request).actor)
    except DomainError as exc:
        flash_refusal(request, exc)
        status = 429 if isinstance(exc, Throttled) else 409
        return await render_section(request, client_id, base=base, area=area, status=status)
    flash(request, confirm(result))
    shown = link(result) if link is not None else None
    return await render_section(request, client_id, base=base, area=area, sent_link=shown)


async def remove_access(
    request: Request, client_id: int, user_id: int, *, base: str, area: str
) -> Response:
    """Remove, confirmed with the person's name and an Undo that gives the same grant back."""
    actor = viewer_of(request).actor
    try:
        removed = await access.revoke_access(client_id, user_id, actor=actor)
    except DomainError as exc:
        flash(request, exc.message, "error")
        return await render_section(request, client_id, base=base, area=area, status=409)
    token = removal_token(
        client_id, user_id, removed["keys"], actor=actor, access_until=removed["access_until"]
    )
    flash(
        request,
        _("Removed the access of %(name)s to %(account)s.")
        % {"name": full_name(removed["user"]), "account": display_name(removed["client"])},
        undo={"url": f"{base}/users/{user_id}/restore", "token": token},
    )
    return await render_section(request, client_id, base=base, area=area)


async def restore_access(
    request: Request, client_id: int, user_id: int, *, base: str, area: str
) -> Response:
    form = await read_form(request)
    return await run_action(
        request,
        client_id,
        lambda actor: access.restore_access(client_id, form.get("token") or "", actor=actor),
        lambda user: (
            _("Access of %(name)s restored, with the same permissions.") % {"name": full_name(user)}
        ),
        base=base,
        area=area,
    )


async def change_invite_until(
    request: Request, client_id: int, invitation_id: int, *, base: str, area: str
) -> Response:
    """A pending invite's Access until, changed or cleared (an empty date) in its row."""
    form = await read_form(request)
    return await run_action(
        request,
        client_id,
        lambda actor: invitations.set_access_until(
            client_id, invitation_id, (form.get("access_until") or "").strip() or None, actor=actor
        ),
        invite_until_changed,
        base=base,
        area=area,
    )


def invite_until_changed(result) -> str:
    email, until = result
    if until is None:
        return _("The access the invite to %(email)s gives no longer ends by itself.") % {
            "email": email
        }
    return _("The access the invite to %(email)s gives ends %(until)s.") % {
        "email": email,
        "until": access.describe_until(until),
    }


def resent(result) -> str:
    return ngettext(
        "Invite sent again to %(email)s, with a new link valid for %(num)d day.",
        "Invite sent again to %(email)s, with a new link valid for %(num)d days.",
        result.days,
    ) % {"email": result.email, "num": result.days}


def resent_link(result) -> dict | None:
    return sent_link(
        result.invitation_id,
        result.token,
        result.email,
        expires_at=result.expires_at,
        days=result.days,
    )


async def resend_invite(
    request: Request, client_id: int, invitation_id: int, *, base: str, area: str
) -> Response:
    """Resend Invite: a new link, shown with the confirmation (the only moment it exists in
    clear) for the sender to copy."""
    return await run_action(
        request,
        client_id,
        lambda actor: invitations.resend(client_id, invitation_id, actor=actor),
        resent,
        base=base,
        area=area,
        link=resent_link,
    )


async def link_copied(request: Request, client_id: int, invitation_id: int) -> Response:
    """The sender copied the link the confirmation showed: logged (the link is not sent)."""
    await read_form(request)
    await invitations.note_link_copied(client_id, invitation_id, actor=viewer_of(request).actor)
    return html_response(request, "")


HISTORY = "shared/delivery_history.html"


async def delivery_history(
    request: Request, invitation_id: int, *, src: str, client_id: int | None = None
) -> Response:
    """The delivery history dialog of an invitation (`part=history`: its body alone, as the
    open dialog fetches it again on live news)."""
    history = await invitations.delivery_history(
        invitation_id, actor=viewer_of(request).actor, client_id=client_id
    )
    return render_history(request, history, src)


def render_history(request: Request, history: dict, src: str) -> Response:
    part = "history" if request.query_params.get("part") == "history" else "dialog"
    return render(request, HISTORY, {"h": history, "src": src}, block=part)


def cancelled(email: str) -> str:
    return _("Invite to %(email)s cancelled: its link no longer works.") % {"email": email}


async def account_user(client_id: int, user_id: int) -> tuple[dict, dict]:
    """The account and one of its users."""
    people = await access.account_people(client_id, user_id=user_id)
    if not people.users:
        raise NotFound(_("This user no longer has access to this account."))
    return people.client, people.users[0]


async def permissions_form(
    request: Request, client_id: int, user_id: int, *, base: str
) -> Response:
    """The Manage Permissions form of one user, loaded into the section's dialog on opening."""
    client, user = await account_user(client_id, user_id)
    await access.check_manager(viewer_of(request).actor, client)
    if user["is_owner"]:
        raise DomainError(_("The owner always has every permission: theirs cannot be edited."))
    context = {
        "u": user,
        "base": base,
        "opened": opened_grant(user["permission_keys"], user["access_until"]),
        "presets": await offered_presets(request),
    }
    return render(request, SECTION, context, block="permissions_form")


def opened_grant(keys, until) -> str:
    """The version a Manage Permissions form is opened on: the keys it shows ticked and the
    access's end (to the second, as the save compares it)."""
    values = access.grant_version(keys, until)
    return opened_field({**values, "permissions": list(keys)})


def ticked(keys) -> dict[str, bool]:
    """Each permission key: whether it is among `keys` (anything else, as none)."""
    keys = set(keys) if isinstance(keys, list | tuple) else set()
    return {key: key in keys for key in ALL_KEYS}


UNTIL = "access_until"
# Marked only: translated when said (app.http.plumbing.stale).
GRANT_LABELS = {**LABELS, UNTIL: N_("Access until")}


def shown_date(version: object) -> str:
    """An end as a version holds it (access.until_version), as the dialog's date field shows
    it: its day in UTC, "" for none."""
    if not isinstance(version, str) or not version:
        return ""
    try:
        return datetime.fromisoformat(version).date().isoformat()
    except ValueError:
        return ""


def grant_fields(keys, until_date: str) -> dict:
    """A Manage Permissions form's fields as compared for a refused save: each key ticked or
    not, and the end's date."""
    return {**ticked(keys), UNTIL: until_date}


def until_change(sent: str, opened: str | None):
    """What a Manage Permissions form asks of the access's end: kept when its date field is
    still the date it was opened with (an end given to the second through an API stays as it
    is), else the date sent ("" clears it)."""
    if opened is not None and sent.strip() == opened:
        return access.KEEP
    return sent


# The form's answers go into the dialog, in place of the form.
INTO_THE_DIALOG = {"HX-Retarget": "#perm-form", "HX-Reswap": "outerHTML"}


async def edit_permissions(
    request: Request, client_id: int, user_id: int, *, base: str, area: str
) -> Response:
    """Save Permissions, a compare-and-set: saved only while the user's permissions are still
    those the form was opened on; else 409 with what changed, and the boxes showing the
    other person's change with this one on top (what Apply my change on top then saves)."""
    form, keys, refused = await invite_form_values(request)
    until_sent = form.get("access_until") or ""
    until_asked = until_change(until_sent, form.get("access_until_opened"))
    opened = None
    try:
        if refused is not None:
            raise refused
        opened = read_opened(form)
        saved = await access.update_permissions(
            client_id,
            user_id,
            keys,
            actor=viewer_of(request).actor,
            opened=opened,
            access_until=until_asked,
        )
    except Stale as exc:
        assert opened is not None  # Stale comes only from a save given its version
        _client, user = await account_user(client_id, user_id)
        now = exc.current["permissions"]
        opened_date = shown_date(opened.get(UNTIL))
        now_date = user["until_date"]
        asked_date = opened_date if isinstance(until_asked, access.Keep) else until_sent.strip()
        found = conflict(
            grant_fields(opened.get("permissions"), opened_date),
            grant_fields(now, now_date),
            grant_fields(keys, asked_date),
        )
        merged = tuple(key for key in ALL_KEYS if found.merged[key])
        context: dict[str, object] = {
            "u": {
                **user,
                "permission_keys": merged,
                "until_value": found.merged[UNTIL],
                "until_opened": now_date,
            },
            "base": base,
            "opened": opened_grant(now, user["access_until"]),
            "stale": told(
                found,
                GRANT_LABELS,
                _("Someone changed these permissions while you were editing: %(changes)s."),
                GRANTED,
            ),
            "presets": await offered_presets(request),
        }
        return render(
            request,
            SECTION,
            context,
            block="permissions_form",
            status=409,
            headers=INTO_THE_DIALOG,
        )
    except DomainError as exc:
        _client, user = await account_user(client_id, user_id)
        refused_until = exc.field == "access_until"
        context = {
            "u": {
                **user,
                "permission_keys": tuple(keys),
                "until_value": until_sent,
                "until_opened": form.get("access_until_opened") or "",
            },
            "base": base,
            "error": None if refused_until else exc.message,
            "until_error": exc.message if refused_until else None,
            "opened": form.get(OPENED) or "",  # still the version it was opened on
            "scope": form.get("scope") or "choose",
            "presets": await offered_presets(request),
        }
        return render(
            request,
            SECTION,
            context,
            block="permissions_form",
            status=422,
            headers=INTO_THE_DIALOG,
        )
    flash(request, _("Permissions of %(name)s saved.") % {"name": full_name(saved["user"])})
    return await render_section(request, client_id, base=base, area=area)


async def permission_changes(request: Request, client_id: int, user_id: int) -> Response:
    """What an open Manage Permissions dialog is told when its page hears that the account's
    people changed (the live stream says only that): a notice when this user's permissions are
    no longer those the dialog was opened on (`opened`, as the form carries it), else
    nothing."""
    try:
        client, user = await account_user(client_id, user_id)
    except NotFound as exc:
        return html_response(request, exc.message)
    await access.check_manager(viewer_of(request).actor, client)
    opened = read_opened(request.query_params)
    now = user["permission_keys"]
    current = access.grant_version(now, user["access_until"])
    if UNTIL not in (opened or {}):  # a dialog opened on the keys only
        del current[UNTIL]
    if opened is None or unchanged(opened, current):
        return html_response(request, "")
    found = conflict(
        grant_fields(opened.get("permissions"), shown_date(opened.get(UNTIL))),
        grant_fields(now, user["until_date"] if UNTIL in opened else ""),
        {},
    )
    changes = said(found.theirs, GRANT_LABELS, theirs=True, flags=GRANTED)
    changes = changes or _("Access until was changed")  # to another time of the same day
    return render(request, SECTION, {"live_change": changes}, block="permissions_changed")


async def offered_presets(request: Request) -> tuple[presets.Preset, ...]:
    """The permission presets the forms offer (kept by the process while their version, read
    with the session, is the same: no statement of its own on most pages)."""
    return await presets.offered(viewer_of(request).presets_version)


def preset_asked(form) -> str:
    """The preset a permissions form asks for: its scope radio (`preset:<id>`), or a `preset`
    field (a script's form); "" for none."""
    scope = form.get("scope") or ""
    if scope.startswith("preset:"):
        return scope.removeprefix("preset:")
    return "" if scope in ("all", "choose") else (form.get("preset") or "")


async def chosen_keys(form, ticked_keys: list[str]) -> list[str]:
    """The keys a permissions form gives: every key for All Permissions, a preset's keys as
    they are now (a copy: the grant keeps them whatever becomes of the preset), else the ticked
    boxes. DomainError (permissions) for a preset that no longer exists."""
    preset_id = preset_asked(form)
    if preset_id:
        return list(await presets.keys_of(preset_id))
    if form.get("scope") == "all":
        return list(ALL_KEYS)
    return ticked_keys


async def invite_form_values(request: Request) -> tuple[dict, list[str], DomainError | None]:
    """A permissions form's fields, the keys it gives (the ticked ones when it names a preset
    that no longer exists) and, then, the refusal to show on its permissions."""
    form = await read_form(request)
    ticked_keys = await read_list(request, "permissions")
    try:
        return form, await chosen_keys(form, ticked_keys), None
    except DomainError as exc:  # shown with the boxes, ticked as they were sent
        return {**form, "scope": "choose"}, ticked_keys, exc
