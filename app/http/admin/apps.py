"""The admin screen for the apps that sign people in with Roster: /admin/apps lists them and
registers one (its Client ID, and a confidential app's Client Secret, shown once in the answer
to the registration); /admin/apps/{id} changes one, rotates its secret (the new one shown once),
disables or enables it and deletes it."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core.errors import DomainError, Forbidden, NotFound
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.stale import Stale
from app.domain.oauth import apps
from app.http.plumbing.forms import read_form, read_list
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment
from app.http.plumbing.stale import OPENED, conflict, opened_field, read_opened, told

LIST = "admin/apps/list.html"
DETAIL = "admin/apps/detail.html"
# What each scope lets an app read, as the form says it (marked: translated by `scopes()`); the
# scopes are the service's.
SCOPE_HINTS = {
    "openid": N_("Who the person is (always)."),
    "profile": N_("Their name."),
    "email": N_("Their email address, and whether it is verified."),
    "roster.accounts": N_("The accounts they reach, with their permissions."),
}
SCOPES = tuple((scope, scope, SCOPE_HINTS.get(scope, "")) for scope in apps.SCOPES_SUPPORTED)


def scopes() -> tuple:
    """SCOPES with their hints in the request's language, for the form."""
    return tuple((value, label, _(hint) if hint else "") for value, label, hint in SCOPES)


FIELDS = ("name", "redirect_uris", "post_logout_redirect_uris", "allowed_scopes", "id_token_alg")
# What the settings form edits (all the service's EDITABLE but `enabled`: Disable / Enable), by
# the form's labels, for what a refused save says (marked: translated when said).
LABELS = {
    "name": N_("Name"),
    "redirect_uris": N_("Redirect URIs"),
    "post_logout_redirect_uris": N_("Post-logout redirect URIs"),
    "confidential": N_("Confidential"),
    "first_party": N_("First-party"),
    "allowed_scopes": N_("Allowed scopes"),
    "id_token_alg": N_("ID token algorithm"),
}


def typed(given: str | None, *, lines: bool = False) -> str:
    """What was typed, shown again in its field: printable characters (and, in a text area, its
    line breaks) only, and not a book."""
    kept = "".join(ch for ch in given or "" if ch.isprintable() or (lines and ch == "\n"))
    return kept[: apps.URI_MAX * 2 if lines else apps.NAME_MAX * 2]


async def app_form(request: Request) -> dict:
    """The form as posted: what the services take, and (kept as typed) what it shows again."""
    form = await read_form(request)
    return {
        "name": form.get("name") or "",
        "redirect_uris": (form.get("redirect_uris") or "").replace("\r\n", "\n"),
        "post_logout_redirect_uris": (form.get("post_logout_redirect_uris") or "").replace(
            "\r\n", "\n"
        ),
        "confidential": form.get("client_type") != "public",
        "first_party": form.get("first_party") == "on",
        "allowed_scopes": await read_list(request, "allowed_scopes"),
        "id_token_alg": form.get("id_token_alg") or "RS256",
    }


def shown(form: dict) -> dict:
    """The posted form as its fields show it again."""
    return form | {
        "name": typed(form["name"]),
        "redirect_uris": typed(form["redirect_uris"], lines=True),
        "post_logout_redirect_uris": typed(form["post_logout_redirect_uris"], lines=True),
        "allowed_scopes": [typed(s) for s in form["allowed_scopes"]],
        "id_token_alg": typed(form["id_token_alg"]),
    }


def form_of(app: dict) -> dict:
    """The settings form showing an app as stored."""
    return {
        "name": app["name"],
        "redirect_uris": "\n".join(app["redirect_uris"]),
        "post_logout_redirect_uris": "\n".join(app["post_logout_redirect_uris"]),
        "confidential": app["confidential"],
        "first_party": app["first_party"],
        "allowed_scopes": list(app["allowed_scopes"]),
        "id_token_alg": app["id_token_alg"],
    }


def opened_of(values: dict) -> str:
    """The version the settings form carries: the values it edits, as the service reads them."""
    return opened_field({name: values[name] for name in LABELS})


def asked_of(form: dict) -> dict:
    """The posted settings as the service reads them (lists as tuples, the scopes with
    `openid`), to tell what the person changed from what someone else did."""

    def lines(text: str) -> tuple[str, ...]:
        return tuple(line.strip() for line in text.splitlines() if line.strip())

    try:
        scopes = tuple(apps.clean_scopes(form["allowed_scopes"]).split())
    except DomainError:
        scopes = tuple(form["allowed_scopes"])
    return {name: form[name] for name in LABELS} | {
        "redirect_uris": lines(form["redirect_uris"]),
        "post_logout_redirect_uris": lines(form["post_logout_redirect_uris"]),
        "allowed_scopes": scopes,
    }


def _in_words(changes: dict) -> dict:
    """field -> (before, after), a list said as its items."""

    def said(value):
        if isinstance(value, list | tuple):
            return ", ".join(value) or _("none")
        return value

    return {name: (said(old), said(new)) for name, (old, new) in changes.items()}


NEW_FORM = {
    "name": "",
    "redirect_uris": "",
    "post_logout_redirect_uris": "",
    "confidential": True,
    "first_party": False,
    "allowed_scopes": list(apps.SCOPES_SUPPORTED),
    "id_token_alg": "RS256",
}


def errors_of(exc: DomainError) -> dict:
    return {exc.field if exc.field in (*FIELDS, "confidential") else "form": exc.message}


async def list_screen(
    request: Request,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    created: apps.NewApp | None = None,
    status: int = 200,
) -> Response:
    """The whole screen, or for htmx only its apps section (the list and the form)."""
    context = {
        "apps": await apps.list_apps(actor=viewer_of(request).actor),
        "form": form or NEW_FORM,
        "errors": errors or {},
        "created": created,
        "scopes": scopes(),
        "algorithms": apps.ALGORITHMS,
        "name_max": apps.NAME_MAX,
    }
    block = "apps" if wants_fragment(request) else None
    return render(request, LIST, context, block=block, status=status)


async def detail_screen(
    request: Request,
    app_id: int,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    secret: str | None = None,
    opened: str | None = None,
    stale: dict | None = None,
    status: int = 200,
) -> Response:
    """The app's page, or for htmx only its section. `secret`: a new one, shown this once;
    `opened`: the version the settings form carries (by default the app's as read); `stale`:
    what a refused save says changed."""
    app = await apps.get_app(app_id, actor=viewer_of(request).actor)
    context = {
        "app": app,
        "form": form or form_of(app),
        "opened": opened_of(app) if opened is None else opened,
        "stale": stale,
        "errors": errors or {},
        "secret": secret,
        "scopes": scopes(),
        "algorithms": apps.ALGORITHMS,
        "name_max": apps.NAME_MAX,
    }
    block = "app" if wants_fragment(request) else None
    return render(request, DETAIL, context, block=block, status=status)


@get("/admin/apps", permission=Permission.MANAGE_APPS)
async def apps_screen(request: Request, deleted: FromQuery[str] = "") -> Response:
    if deleted:
        flash(request, _("App deleted, with every token it held."))
    return await list_screen(request)


@post("/admin/apps", permission=Permission.MANAGE_APPS)
async def register_app(request: Request) -> Response:
    form = await app_form(request)
    try:
        created = await apps.create_app(**form, actor=viewer_of(request).actor)
    except Forbidden:
        raise
    except DomainError as exc:
        return await list_screen(request, form=shown(form), errors=errors_of(exc), status=422)
    if created.client_secret:
        flash(request, _("App registered. Copy the Client Secret now: it is not shown again."))
    else:
        flash(request, _("App registered. Public app: it has no secret."))
    # Answered in place, not redirected: the secret exists only in this answer.
    return await list_screen(request, created=created)


@get("/admin/apps/{app_id:int}", permission=Permission.MANAGE_APPS)
async def app_screen(request: Request, app_id: FromPath[int]) -> Response:
    return await detail_screen(request, app_id)


@post("/admin/apps/{app_id:int}", permission=Permission.MANAGE_APPS)
async def save_app(request: Request, app_id: FromPath[int]) -> Response:
    """Save, a compare-and-set: saved only while the settings are still those the form was
    opened on; else 409 with what changed, the form showing the other person's change with this
    one on top (what Apply my change on top then saves). Made confidential, the app gets a
    secret, shown once; made public, it loses its secret."""
    form = await app_form(request)
    posted = await read_form(request)
    opened = None
    try:
        opened = read_opened(posted)
        _app, secret = await apps.update_app(
            app_id, **form, actor=viewer_of(request).actor, opened=opened
        )
    except Stale as exc:
        found = conflict(opened, exc.current, asked_of(form))
        words = found._replace(theirs=_in_words(found.theirs), mine=_in_words(found.mine))
        return await detail_screen(
            request,
            app_id,
            form=form_of(found.merged),
            opened=opened_of(exc.current),
            stale=told(
                words,
                LABELS,
                _("Someone changed this app's settings while you were editing: %(changes)s."),
            ),
            status=409,
        )
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        still = posted.get(OPENED) or ""  # still the version it was opened on
        return await detail_screen(
            request, app_id, form=shown(form), errors=errors_of(exc), opened=still, status=422
        )
    if secret:
        flash(request, _("App saved. Copy the Client Secret now: it is not shown again."))
    else:
        flash(request, _("App saved."))
    return await detail_screen(request, app_id, secret=secret)


@post("/admin/apps/{app_id:int}/rotate", permission=Permission.MANAGE_APPS)
async def rotate_secret(request: Request, app_id: FromPath[int]) -> Response:
    try:
        rotated = await apps.rotate_secret(app_id, actor=viewer_of(request).actor)
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        return await detail_screen(request, app_id, errors={"form": exc.message}, status=409)
    flash(
        request,
        _(
            "New Client Secret made; the previous one no longer works. Copy the Client Secret "
            "now: it is not shown again."
        ),
    )
    return await detail_screen(request, app_id, secret=rotated.client_secret)


@post("/admin/apps/{app_id:int}/disable", permission=Permission.MANAGE_APPS)
async def disable_app(request: Request, app_id: FromPath[int]) -> Response:
    await apps.set_enabled(app_id, False, actor=viewer_of(request).actor)
    flash(request, _("App disabled: it signs nobody in, and every token it holds is refused."))
    return await detail_screen(request, app_id)


@post("/admin/apps/{app_id:int}/enable", permission=Permission.MANAGE_APPS)
async def enable_app(request: Request, app_id: FromPath[int]) -> Response:
    await apps.set_enabled(app_id, True, actor=viewer_of(request).actor)
    flash(request, _("App enabled."))
    return await detail_screen(request, app_id)


@post("/admin/apps/{app_id:int}/delete", permission=Permission.MANAGE_APPS)
async def delete_app(request: Request, app_id: FromPath[int]) -> Response:
    await apps.delete_app(app_id, actor=viewer_of(request).actor)
    return redirect(request, "/admin/apps?deleted=1")


ROUTES = [
    apps_screen,
    register_app,
    app_screen,
    save_app,
    rotate_secret,
    disable_app,
    enable_app,
    delete_app,
]
