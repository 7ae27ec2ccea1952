"""The admin screen for webhooks: /admin/webhooks lists the endpoints and adds one (its signing
secret shown once, in the answer to the add); /admin/webhooks/{id} edits one, sends it a test
event, rotates its secret (the new one shown once), replays its messages since a time, deletes
it, and shows its recent deliveries, each with Resend."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core import i18n
from app.core.errors import DomainError
from app.core.i18n import N_, _, ngettext
from app.core.policy import Permission
from app.core.stale import Stale
from app.domain.webhooks import services as webhooks
from app.domain.webhooks.services import ALL_TYPES, EVENT_TYPES
from app.http.plumbing.forms import read_form, read_list
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment
from app.http.plumbing.stale import OPENED, conflict, opened_field, read_opened, told

LIST = "admin/webhooks/list.html"
DETAIL = "admin/webhooks/detail.html"
# The settings form's fields (webhooks.EDITABLE) as it names them (marked: translated when said).
LABELS = {
    "url": N_("URL"),
    "description": N_("Description"),
    "event_types": N_("Event types"),
    "enabled": N_("Enabled"),
}


async def endpoint_form(request: Request) -> tuple[dict, tuple[str, ...] | list[str]]:
    """The form as typed (to show it again) and the event types it asks for."""
    form = await read_form(request)
    chosen = await read_list(request, "event_types")
    shown = {
        "url": form.get("url") or "",
        "description": form.get("description") or "",
        "scope": "choose" if form.get("scope") == "choose" else "all",
        "event_types": chosen,
        "enabled": form.get("enabled") == "on",
    }
    return shown, (chosen if shown["scope"] == "choose" else (ALL_TYPES,))


def _form_of(endpoint: dict) -> dict:
    """The settings form showing an endpoint's EDITABLE values (as read, or merged)."""
    everything = tuple(endpoint["event_types"]) == (ALL_TYPES,)
    return {
        "url": endpoint["url"],
        "description": endpoint["description"],
        "scope": "all" if everything else "choose",
        "event_types": [] if everything else list(endpoint["event_types"]),
        "enabled": endpoint["enabled"],
    }


def _opened(values: dict) -> str:
    """The version the settings form carries: the EDITABLE values it shows."""
    return opened_field({name: values[name] for name in webhooks.EDITABLE})


def _types_in_words(types) -> str:
    types = list(types) if isinstance(types, list | tuple) else []
    return _("All events") if types == [ALL_TYPES] else ", ".join(types) or _("none")


def _in_words(changes: dict) -> dict:
    """field -> (before, after), the event types said as the form names them."""
    return {
        name: tuple(map(_types_in_words, pair)) if name == "event_types" else pair
        for name, pair in changes.items()
    }


def shown_typed(given: str) -> str:
    """What was typed, shown again in its field: printable characters only, and not a book."""
    return "".join(ch for ch in given if ch.isprintable())[:64]


async def list_screen(
    request: Request,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    created: webhooks.NewSecret | None = None,
    status: int = 200,
) -> Response:
    """The whole screen, or for htmx only its endpoints section (the form and the list)."""
    context = {
        "endpoints": await webhooks.list_endpoints(actor=viewer_of(request).actor),
        "event_types": EVENT_TYPES,
        "form": form or {"scope": "all", "event_types": []},
        "errors": errors or {},
        "created": created,
        "description_max": webhooks.DESCRIPTION_MAX,
    }
    block = "endpoints" if wants_fragment(request) else None
    return render(request, LIST, context, block=block, status=status)


async def detail_screen(
    request: Request,
    endpoint_id: int,
    *,
    form: dict | None = None,
    errors: dict | None = None,
    secret: str | None = None,
    opened: str | None = None,
    stale: dict | None = None,
    since: str = "",
    status: int = 200,
) -> Response:
    """The endpoint's page, or for htmx only its section (settings, actions, deliveries).
    `opened`: the version the settings form carries (by default the endpoint's as read);
    `stale`: what a refused save says changed; `since`: the Replay time as typed."""
    actor = viewer_of(request).actor
    endpoint = await webhooks.get_endpoint(endpoint_id)
    context = {
        "endpoint": endpoint,
        "deliveries": await webhooks.recent_deliveries(endpoint_id, actor=actor),
        "event_types": EVENT_TYPES,
        "form": form or _form_of(endpoint),
        "opened": _opened(endpoint) if opened is None else opened,
        "stale": stale,
        "since": since,
        "earliest_replay": webhooks.earliest_replay(endpoint),
        "errors": errors or {},
        "secret": secret,
        "description_max": webhooks.DESCRIPTION_MAX,
    }
    block = "endpoint" if wants_fragment(request) else None
    return render(request, DETAIL, context, block=block, status=status)


@get("/admin/webhooks", permission=Permission.MANAGE_WEBHOOKS)
async def webhooks_screen(request: Request, deleted: FromQuery[str] = "") -> Response:
    if deleted:
        flash(request, _("Webhook endpoint deleted, with its deliveries."))
    return await list_screen(request)


@post("/admin/webhooks", permission=Permission.MANAGE_WEBHOOKS)
async def add_endpoint(request: Request) -> Response:
    form, event_types = await endpoint_form(request)
    try:
        created = await webhooks.create_endpoint(
            url=form["url"],
            description=form["description"],
            event_types=event_types,
            actor=viewer_of(request).actor,
        )
    except DomainError as exc:
        errors = {exc.field or "url": exc.message}
        return await list_screen(request, form=form, errors=errors, status=422)
    flash(
        request,
        _("Webhook endpoint added. Copy the signing secret now: it is not shown again."),
    )
    # Answered in place, not redirected: the secret exists only in this answer.
    return await list_screen(request, created=created)


@get("/admin/webhooks/{endpoint_id:int}", permission=Permission.MANAGE_WEBHOOKS)
async def endpoint_screen(request: Request, endpoint_id: FromPath[int]) -> Response:
    return await detail_screen(request, endpoint_id)


@post("/admin/webhooks/{endpoint_id:int}", permission=Permission.MANAGE_WEBHOOKS)
async def save_endpoint(request: Request, endpoint_id: FromPath[int]) -> Response:
    """Save, a compare-and-set: saved only while the endpoint's settings are still those the
    form was opened on; else 409 with what changed, the form showing the other person's change
    with this one on top (what Apply my change on top then saves)."""
    form, event_types = await endpoint_form(request)
    asked = {
        "url": form["url"],
        "description": form["description"],
        "event_types": tuple(event_types),
        "enabled": form["enabled"],
    }
    posted = await read_form(request)
    try:
        opened = read_opened(posted)
        await webhooks.update_endpoint(
            endpoint_id, **asked, actor=viewer_of(request).actor, opened=opened
        )
    except Stale as exc:
        found = conflict(opened, exc.current, asked)
        words = found._replace(theirs=_in_words(found.theirs), mine=_in_words(found.mine))
        return await detail_screen(
            request,
            endpoint_id,
            form=_form_of(found.merged),
            opened=_opened(exc.current),
            stale=told(
                words,
                LABELS,
                _("Someone changed this endpoint's settings while you were editing: %(changes)s."),
            ),
            status=409,
        )
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        still = posted.get(OPENED) or ""  # still the version it was opened on
        return await detail_screen(
            request, endpoint_id, form=form, errors=errors, opened=still, status=422
        )
    flash(request, _("Webhook endpoint saved."))
    return await detail_screen(request, endpoint_id)


@post("/admin/webhooks/{endpoint_id:int}/test", permission=Permission.MANAGE_WEBHOOKS)
async def send_test_event(request: Request, endpoint_id: FromPath[int]) -> Response:
    await webhooks.send_test_event(endpoint_id, actor=viewer_of(request).actor)
    flash(request, _("Test event queued: it appears below once it is sent."))
    return await detail_screen(request, endpoint_id)


@post("/admin/webhooks/{endpoint_id:int}/rotate", permission=Permission.MANAGE_WEBHOOKS)
async def rotate_secret(request: Request, endpoint_id: FromPath[int]) -> Response:
    rotated = await webhooks.rotate_secret(endpoint_id, actor=viewer_of(request).actor)
    flash(
        request,
        _(
            "New signing secret made; the previous one also signs for 24 hours. Copy the "
            "signing secret now: it is not shown again."
        ),
    )
    return await detail_screen(request, endpoint_id, secret=rotated.secret)


@post("/admin/webhooks/{endpoint_id:int}/replay", permission=Permission.MANAGE_WEBHOOKS)
async def replay(request: Request, endpoint_id: FromPath[int]) -> Response:
    given = (await read_form(request)).get("since") or ""
    try:
        since, count = await webhooks.replay_typed(
            endpoint_id, given, actor=viewer_of(request).actor
        )
    except DomainError as exc:
        if exc.field != "since":
            raise
        errors = {"since": exc.message}
        return await detail_screen(
            request, endpoint_id, errors=errors, since=shown_typed(given), status=422
        )
    flash(
        request,
        ngettext(
            "%(num)d message since %(since)s UTC queued again, in order.",
            "%(num)d messages since %(since)s UTC queued again, in order.",
            count,
        )
        % {"num": count, "since": i18n.format_datetime(since, "UTC")},
    )
    return await detail_screen(request, endpoint_id)


@post("/admin/webhooks/{endpoint_id:int}/delete", permission=Permission.MANAGE_WEBHOOKS)
async def delete_endpoint(request: Request, endpoint_id: FromPath[int]) -> Response:
    await webhooks.delete_endpoint(endpoint_id, actor=viewer_of(request).actor)
    return redirect(request, "/admin/webhooks?deleted=1")


@post(
    "/admin/webhooks/{endpoint_id:int}/deliveries/{delivery_id:int}/resend",
    permission=Permission.MANAGE_WEBHOOKS,
)
async def resend_delivery(
    request: Request, endpoint_id: FromPath[int], delivery_id: FromPath[int]
) -> Response:
    await webhooks.resend_delivery(
        delivery_id, endpoint_id=endpoint_id, actor=viewer_of(request).actor
    )
    flash(request, _("Delivery queued again, with the same webhook-id."))
    return await detail_screen(request, endpoint_id)


ROUTES = [
    webhooks_screen,
    add_endpoint,
    endpoint_screen,
    save_endpoint,
    send_test_event,
    rotate_secret,
    replay,
    delete_endpoint,
    resend_delivery,
]
