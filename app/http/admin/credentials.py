"""The admin screen for API credentials, /admin/api: list, create (the secret shown
once, in the answer to the create), revoke; and how to call the two APIs."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.validation import parse_id
from app.domain.credentials import services as credentials
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment

TEMPLATE = "admin/api.html"
REVOKED = N_("API credential revoked: it no longer authenticates.")


def api_urls(request: Request) -> dict:
    """The two front doors, at the address this page was asked for."""
    base = str(request.base_url).rstrip("/")
    return {
        "base": base,
        "whmcs": f"{base}/includes/api.php",
        "native": f"{base}/api/v1",
        "schema": f"{base}/api/v1/schema",
    }


async def render_screen(
    request: Request,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    created: credentials.NewCredential | None = None,
    status: int = 200,
) -> Response:
    """The whole screen, or for htmx only its credentials section (the form and the list)."""
    can_manage = admin_allows(request, Permission.MANAGE_USERS)
    context = {
        "credentials": await credentials.list_credentials(),
        "staff": await credentials.staff_choices() if can_manage else [],
        "form": form
        if form is not None
        else {"admin_id": str(viewer_of(request).signed_in_admin["id"])},
        "errors": errors or {},
        "created": created,
        "can_manage": can_manage,
        "description_max": credentials.DESCRIPTION_MAX,
        "urls": api_urls(request),
    }
    if wants_fragment(request):
        return render(request, TEMPLATE, context, block="credentials", status=status)
    return render(request, TEMPLATE, context, status=status)


@get("/admin/api", permission=Permission.STAFF)
async def api_screen(request: Request, revoked: FromQuery[str] = "") -> Response:
    if revoked:
        flash(request, _(REVOKED))
    return await render_screen(request)


@post("/admin/api", permission=Permission.MANAGE_USERS)
async def create_credential(request: Request) -> Response:
    form = await read_form(request)
    form = {key: form.get(key) or "" for key in ("admin_id", "description", "allowed_ips")}
    admin_id = parse_id(form["admin_id"])
    try:
        if admin_id is None:
            raise DomainError(_("Choose a staff member."), "admin_id")
        created = await credentials.create_credential(
            admin_id,
            description=form["description"],
            allowed_ips=[form["allowed_ips"]],
            actor=viewer_of(request).actor,
        )
    except DomainError as exc:
        return await render_screen(
            request, form=form, errors={exc.field or "form": exc.message}, status=422
        )
    flash(request, _("API credential created. Copy its secret now: it is not shown again."))
    # Answered in place, not redirected: the secret exists only in this answer.
    return await render_screen(request, created=created)


@post("/admin/api/{credential_id:int}/revoke", permission=Permission.MANAGE_USERS)
async def revoke_credential(request: Request, credential_id: FromPath[int]) -> Response:
    await credentials.revoke_credential(credential_id, actor=viewer_of(request).actor)
    if not wants_fragment(request):
        return redirect(request, "/admin/api?revoked=1")
    flash(request, _(REVOKED))
    return await render_screen(request)


ROUTES = [api_screen, create_credential, revoke_credential]
