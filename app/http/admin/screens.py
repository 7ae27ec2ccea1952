"""The admin area's own screens: the activity log, the settings and the outbox."""

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from app.core.config import get_settings
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_, _
from app.core.permissions import ALL_KEYS, LABELS
from app.core.policy import Permission
from app.core.stale import Stale
from app.domain.activity import services as activity
from app.domain.invitations import services as invitations
from app.domain.mail import services as mail
from app.domain.mail.worker import MAX_ATTEMPTS
from app.domain.presets import services as presets
from app.domain.staff import services as admin
from app.http.plumbing.errors import error_page
from app.http.plumbing.forms import read_form, read_list
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment
from app.http.plumbing.stale import GRANTED, OPENED, conflict, opened_field, read_opened, told
from app.http.shared import account_users as views

PAGE_SIZE = 50


def query_url(path: str, **params) -> str:
    """`path` with the given query parameters, leaving out the empty ones and page 1."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)}
    return f"{path}?{urlencode(kept)}" if kept else path


# The activity log (§5.5).


@get("/admin/activity", permission=Permission.VIEW_ACCOUNT_USERS)
async def activity_log(
    request: Request,
    client_id: FromQuery[int | None] = None,
    user_id: FromQuery[int | None] = None,
    page: FromQuery[int] = 1,
) -> Response:
    result = await activity.log_page(
        client_id=client_id, user_id=user_id, page=page, per_page=PAGE_SIZE
    )
    shown = result["shown"]

    def url(**changes) -> str:
        return query_url(
            "/admin/activity",
            **{"client_id": client_id, "user_id": user_id, "page": shown.number, **changes},
        )

    return render(
        request,
        "admin/activity.html",
        {**result, "client_id": client_id, "user_id": user_id, "url": url},
    )


# The settings (§5.7).

SETTINGS_TEMPLATE = "admin/settings.html"


def settings_form(form: dict) -> dict:
    """The posted form, as the values the page shows (unticked boxes are not posted; a number
    not posted stays as it is)."""
    numbers = {k: posted for k in admin.NUMBER_SETTINGS if (posted := form.get(k)) is not None}
    return {
        **numbers,
        admin.DISABLE_CLIENT_USER_MANAGEMENT: bool(form.get(admin.DISABLE_CLIENT_USER_MANAGEMENT)),
        admin.REQUIRE_INVITED_EMAIL: bool(form.get(admin.REQUIRE_INVITED_EMAIL)),
        admin.REQUIRE_STAFF_TWO_FACTOR: bool(form.get(admin.REQUIRE_STAFF_TWO_FACTOR)),
        admin.REQUIRE_VERIFIED_EMAIL: bool(form.get(admin.REQUIRE_VERIFIED_EMAIL)),
        admin.REQUIRE_TRANSFER_APPROVAL: bool(form.get(admin.REQUIRE_TRANSFER_APPROVAL)),
        admin.COMPANY_NAME: form.get(admin.COMPANY_NAME) or "",
    }


def shown_settings(stored: dict) -> dict:
    """Settings in their stored form ("true"/"false"), as the page shows them."""
    return {k: (v == "true" if k in admin.FLAG_SETTINGS else v) for k, v in stored.items()}


async def render_settings(
    request: Request,
    form: dict,
    errors: dict,
    *,
    status: int = 200,
    opened: str | None = None,
    stale: dict | None = None,
    presets_context: dict | None = None,
) -> Response:
    """The settings form showing `form`. `opened`: the version it carries (by default that of
    `form`, the settings as read); `stale`: what a refused save says changed. The whole page
    also shows the presets' section (`presets_context`, by default as it is now)."""
    if presets_context is None and not wants_fragment(request):
        presets_context = await presets_section(request)
    context = {
        "form": form,
        "errors": errors,
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        "company_name_max": admin.COMPANY_NAME_MAX,
        "lifetime_min": admin.INVITE_LIFETIME_MIN,
        "lifetime_max": admin.INVITE_LIFETIME_MAX,
        "opened": opened_field(form) if opened is None else opened,
        "stale": stale,
        **(presets_context or {}),
    }
    if wants_fragment(request):
        return render(
            request,
            SETTINGS_TEMPLATE,
            context,
            block="settings_form",
            status=status,
        )
    return render(request, SETTINGS_TEMPLATE, context, status=status)


@get("/admin/settings", permission=Permission.STAFF)
async def settings_page(request: Request, saved: FromQuery[str] = "") -> Response:
    if saved:
        flash(request, _("Settings saved.") if saved != "preset" else _("Preset saved."))
    return await render_settings(request, await admin.all_settings(), {})


@post("/admin/settings", permission=Permission.MANAGE_USERS)
async def save_settings(request: Request) -> Response:
    """Save Settings, a compare-and-set: saved only while the settings are still those the form
    was opened on; else 409 with what changed, the form showing the other person's change with
    this one on top (what Apply my change on top then saves)."""
    posted = await read_form(request)
    form = settings_form(posted)
    try:
        opened = read_opened(posted)
        await admin.save_settings(form, actor=viewer_of(request).actor, opened=opened)
    except Stale as exc:
        now = shown_settings(exc.current)
        found = conflict(opened, now, form)
        said = told(
            found,
            admin.SETTING_LABELS,
            _("Someone changed these settings while you were editing: %(changes)s."),
        )
        merged, version = found.merged, opened_field(now)
        return await render_settings(request, merged, {}, status=409, opened=version, stale=said)
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        still = posted.get(OPENED) or ""  # still the version it was opened on
        return await render_settings(request, form, errors, status=422, opened=still)
    if not wants_fragment(request):
        return redirect(request, "/admin/settings?saved=1")
    flash(request, _("Settings saved."))
    return await render_settings(request, await admin.all_settings(), {})


# Permission presets, a section of the settings page.


async def presets_section(
    request: Request,
    *,
    editing: str = "",
    form: dict | None = None,
    errors: dict | None = None,
    opened: str = "",
    stale: dict | None = None,
) -> dict:
    """The presets' section: the list, then the add form (or, `editing`, the edit form of that
    preset, opened on `opened`)."""
    return {
        "presets": await presets.list_presets(),
        "editing": editing,
        "preset_form": form or {},
        "preset_errors": errors or {},
        "preset_opened": opened,
        "preset_stale": stale,
        "preset_name_max": presets.NAME_MAX,
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
    }


async def render_presets(request: Request, *, status: int = 200, **section) -> Response:
    """The section alone for htmx; the whole settings page otherwise."""
    context = await presets_section(request, **section)
    if wants_fragment(request):
        return render(request, SETTINGS_TEMPLATE, context, block="presets", status=status)
    return await render_settings(
        request, await admin.all_settings(), {}, status=status, presets_context=context
    )


async def preset_form_values(request: Request) -> dict:
    posted = await read_form(request)
    return {
        "name": (posted.get("name") or "")[: presets.NAME_MAX * 4],
        "permissions": await read_list(request, "permissions"),
        OPENED: posted.get(OPENED) or "",
    }


def preset_saved(request: Request, text: str) -> Response | None:
    """After a change: for htmx, the confirmation (the caller renders the section); else a
    redirect to the settings page."""
    if not wants_fragment(request):
        return redirect(request, "/admin/settings?saved=preset")
    flash(request, text)
    return None


@post("/admin/settings/presets", permission=Permission.MANAGE_USERS)
async def add_preset(request: Request) -> Response:
    form = await preset_form_values(request)
    try:
        made = await presets.create_preset(
            form["name"], form["permissions"], actor=viewer_of(request).actor
        )
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        return await render_presets(request, status=422, form=form, errors=errors)
    text = _("Preset “%(name)s” added.") % {"name": made["name"]}
    return preset_saved(request, text) or await render_presets(request)


@get("/admin/settings/presets/{preset_id:int}", permission=Permission.MANAGE_USERS)
async def edit_preset_form(request: Request, preset_id: FromPath[int]) -> Response:
    """The settings page with the edit form of one staff-made preset."""
    preset = await presets.get_preset(str(preset_id))
    values = presets.edited_values(preset)
    return await render_presets(
        request, editing=preset.id, form=values, opened=opened_field(values)
    )


@post("/admin/settings/presets/{preset_id:int}", permission=Permission.MANAGE_USERS)
async def save_preset(request: Request, preset_id: FromPath[int]) -> Response:
    """Save Preset, a compare-and-set like the settings: refused (409) when the preset changed
    since the form was opened, showing what changed and the person's change on top."""
    form = await preset_form_values(request)
    editing = str(preset_id)
    opened = None
    try:
        opened = read_opened(form)
        await presets.update_preset(
            preset_id,
            name=form["name"],
            keys=form["permissions"],
            actor=viewer_of(request).actor,
            opened=opened,
        )
    except Stale as exc:
        now = {"name": exc.current["name"], **ticked(exc.current["permissions"])}
        asked = {"name": form["name"], **ticked(form["permissions"])}
        was = {"name": (opened or {}).get("name"), **ticked((opened or {}).get("permissions"))}
        found = conflict(was, now, asked)
        merged = found.merged
        shown = {
            "name": merged["name"],
            "permissions": [k for k in ALL_KEYS if merged.get(k)],
        }
        said = told(
            found,
            {"name": N_("Name"), **LABELS},
            _("Someone changed this preset while you were editing: %(changes)s."),
            GRANTED,
        )
        return await render_presets(
            request,
            status=409,
            editing=editing,
            form=shown,
            opened=opened_field(exc.current),
            stale=said,
        )
    except NotFound:
        raise
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        return await render_presets(
            request, status=422, editing=editing, form=form, errors=errors, opened=form[OPENED]
        )
    return preset_saved(request, _("Preset saved.")) or await render_presets(request)


@post("/admin/settings/presets/{preset_id:int}/delete", permission=Permission.MANAGE_USERS)
async def delete_preset(request: Request, preset_id: FromPath[int]) -> Response:
    await read_form(request)
    try:
        removed = await presets.delete_preset(preset_id, actor=viewer_of(request).actor)
    except NotFound:
        if not wants_fragment(request):
            return redirect(request, "/admin/settings")
        flash(request, _("This preset had already been removed."), "info")
        return await render_presets(request)
    except DomainError as exc:
        if not wants_fragment(request):
            return error_page(request, 409, _("Not removed"), exc.message)
        flash(request, exc.message, "error")
        return await render_presets(request, status=409)
    text = _("Preset “%(name)s” removed. People given access with it keep their permissions.") % {
        "name": removed["name"]
    }
    return preset_saved(request, text) or await render_presets(request)


def ticked(keys) -> dict[str, bool]:
    keys = set(keys) if isinstance(keys, list | tuple) else set()
    return {key: key in keys for key in ALL_KEYS}


# The outbox (§5.8).


def may_preview(request: Request) -> bool:
    """The whole message is shown in development only, and only to staff who manage users."""
    return not get_settings().production and admin_allows(request, Permission.MANAGE_USERS)


def mail_context(request: Request) -> dict:
    return {
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        "can_preview": may_preview(request),
        "can_see_delivery": admin_allows(request, Permission.VIEW_INVITE_DELIVERY),
        "max_attempts": MAX_ATTEMPTS,
    }


@get("/admin/mail", permission=Permission.STAFF)
async def mail_list(
    request: Request, status: FromQuery[str] = "", page: FromQuery[int] = 1
) -> Response:
    result = await mail.outbox_page(status=status or None, page=page, per_page=PAGE_SIZE)
    shown = result["shown"]

    def url(**changes) -> str:
        return query_url("/admin/mail", **{"status": status, "page": shown.number, **changes})

    context = {
        **result,
        **mail_context(request),
        "status": status,
        "statuses": mail.STATUSES,
        "url": url,
    }
    if wants_fragment(request):  # a live update (app/live): the counts and the list only
        return render(request, "admin/mail.html", context, block="outbox")
    return render(request, "admin/mail.html", context)


@post("/admin/mail/{email_id:int}/retry", permission=Permission.MANAGE_USERS)
async def retry_email(request: Request, email_id: FromPath[int]) -> Response:
    try:
        email = await mail.retry(email_id, actor=viewer_of(request).actor)
    except NotFound:
        raise
    except DomainError as exc:
        if not wants_fragment(request):
            return error_page(request, 409, _("Not retried"), exc.message)
        flash(request, exc.message, "error")
        return await render_mail_row(request, await mail.get_email(email_id), status=409)
    if not wants_fragment(request):
        return redirect(request, "/admin/mail")
    flash(request, _("Email queued for another attempt."))
    return await render_mail_row(request, email)


async def render_mail_row(request: Request, email: dict, *, status: int = 200) -> Response:
    """The email's row, with the confirmation and the tabs' counts updated out of band."""
    counts = await mail.status_counts()
    return render(
        request,
        "admin/mail_retried.html",
        {"e": email, "counts": counts, "all": sum(counts.values()), **mail_context(request)},
        status=status,
    )


@get("/admin/mail/{email_id:int}", permission=Permission.MANAGE_USERS)
async def mail_message(request: Request, email_id: FromPath[int]) -> Response:
    if get_settings().production:
        raise NotFoundException()
    return render(
        request,
        "admin/mail_message.html",
        {
            "e": await mail.get_email(email_id),
            "mail_from": get_settings().mail_from,
            **mail_context(request),
        },
    )


@get("/admin/mail/{email_id:int}/delivery", permission=Permission.VIEW_INVITE_DELIVERY)
async def mail_delivery(request: Request, email_id: FromPath[int]) -> Response:
    """The delivery history an email of the outbox opens: every email of its invitation (or its
    own tries), in a dialog."""
    history = await invitations.email_history(email_id, actor=viewer_of(request).actor)
    return views.render_history(request, history, f"/admin/mail/{email_id}/delivery")


ROUTES = [
    activity_log,
    settings_page,
    save_settings,
    add_preset,
    edit_preset_form,
    save_preset,
    delete_preset,
    mail_list,
    retry_email,
    mail_message,
    mail_delivery,
]
