"""The admin area's own screens: the activity log, the settings and the outbox."""

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from app.core.config import get_settings
from app.core.errors import DomainError, NotFound
from app.core.policy import Permission
from app.core.stale import Stale
from app.domain.activity import services as activity
from app.domain.invitations import services as invitations
from app.domain.mail import services as mail
from app.domain.mail.worker import MAX_ATTEMPTS
from app.domain.staff import services as admin
from app.http.plumbing.errors import error_page
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment
from app.http.plumbing.stale import OPENED, conflict, opened_field, read_opened, told
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


def render_settings(
    request: Request,
    form: dict,
    errors: dict,
    *,
    status: int = 200,
    opened: str | None = None,
    stale: dict | None = None,
) -> Response:
    """The settings form showing `form`. `opened`: the version it carries (by default that of
    `form`, the settings as read); `stale`: what a refused save says changed."""
    context = {
        "form": form,
        "errors": errors,
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        "company_name_max": admin.COMPANY_NAME_MAX,
        "lifetime_min": admin.INVITE_LIFETIME_MIN,
        "lifetime_max": admin.INVITE_LIFETIME_MAX,
        "opened": opened_field(form) if opened is None else opened,
        "stale": stale,
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
        flash(request, "Settings saved.")
    return render_settings(request, await admin.all_settings(), {})


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
        said = told(found, admin.SETTING_LABELS, "these settings")
        merged, version = found.merged, opened_field(now)
        return render_settings(request, merged, {}, status=409, opened=version, stale=said)
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        still = posted.get(OPENED) or ""  # still the version it was opened on
        return render_settings(request, form, errors, status=422, opened=still)
    if not wants_fragment(request):
        return redirect(request, "/admin/settings?saved=1")
    flash(request, "Settings saved.")
    return render_settings(request, await admin.all_settings(), {})


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
            return error_page(request, 409, "Not retried", exc.message)
        flash(request, exc.message, "error")
        return await render_mail_row(request, await mail.get_email(email_id), status=409)
    if not wants_fragment(request):
        return redirect(request, "/admin/mail")
    flash(request, "Email queued for another attempt.")
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
    mail_list,
    retry_email,
    mail_message,
    mail_delivery,
]
