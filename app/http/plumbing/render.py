"""Rendering pages and fragments (htmx), redirects that work for htmx and plain requests."""

import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, nodes, pass_context, select_autoescape
from jinja2.visitor import NodeTransformer
from litestar import Request, Response
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup, escape

from app.core import clock, i18n
from app.core.config import FRONTEND_DIR
from app.core.db import Record
from app.core.errors import DomainError, Throttled
from app.core.i18n import _, ngettext
from app.core.permissions import LABELS, PERMISSIONS, SHORT_LABELS
from app.core.policy import Permission, role_allows
from app.core.security import MAX_PASSWORD_LENGTH
from app.core.validation import COMPANY_MAX, CONTACT_LIMITS, EMAIL_MAX, NAME_MAX
from app.http.plumbing.delivery import static_url
from app.http.plumbing.js_texts import js_texts
from app.http.plumbing.middleware import viewer_of


class RosterEnvironment(Environment):
    """Jinja, with two changes for speed:

    - a row (app.core.db.Record) is read by key first: `u.email` on a Record otherwise fails
      the attribute lookup before its __getattr__ answers, a third of a Users tab row's render
      (about 25 reads a row). Anything else, and a name a row does not hold, as Jinja does;
    - each template is compiled once per language ("de:base.html"), its messages without
      values (`_("Send Invite")`, a `{% trans %}` with none) put in as text at compile time
      (ConstantMessages): a page names a hundred of them, a call each at every render before.
    """

    def getattr(self, obj, attribute):
        if type(obj) is Record:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def get_template(self, name, parent=None, globals=None):
        if isinstance(name, str) and parent is None and LANGUAGE_MARK not in name:
            name = f"{i18n.current().code}{LANGUAGE_MARK}{name}"
        return super().get_template(name, parent, globals)

    def join_path(self, template: str, parent: str) -> str:
        """A template a template names (extends, include, import): in the same language."""
        language, mark, _name = parent.partition(LANGUAGE_MARK)
        return f"{language}{mark}{template}" if mark and LANGUAGE_MARK not in template else template

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        language, mark, _name = (name or "").partition(LANGUAGE_MARK)
        if mark:
            ConstantMessages(language).visit(tree)
        return tree


LANGUAGE_MARK = ":"  # between a template's language and its name


class LanguageLoader(FileSystemLoader):
    """Templates by name, whatever language they are compiled for."""

    def get_source(self, environment, template):
        return super().get_source(environment, template.partition(LANGUAGE_MARK)[2] or template)


class ConstantMessages(NodeTransformer):
    """`_("text")`, `gettext("text")` (what a `{% trans %}` becomes), with or without values:
    replaced by the language's translation as newstyle gettext gives it (markup where the
    template escapes, its values put in by name and escaped, `%%` a literal %)."""

    def __init__(self, language: str) -> None:
        self.catalog = i18n.translations(language)

    def visit_Call(self, node):
        self.generic_visit(node)
        if (
            isinstance(node.node, nodes.Name)
            and node.node.name in ("_", "gettext")
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            text = self.catalog.gettext(node.args[0].value)
            if not node.kwargs:
                text = text % {} if "%" in text else text
                return nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno)
            # With values: the translation (markup) % the values, which escapes them.
            values = nodes.Dict([nodes.Pair(nodes.Const(k.key), k.value) for k in node.kwargs])
            return nodes.Mod(
                nodes.MarkSafeIfAutoescape(nodes.Const(text)), values, lineno=node.lineno
            )
        return node


templates = RosterEnvironment(
    loader=LanguageLoader(FRONTEND_DIR / "templates"),
    # Every template in every language stays compiled (Jinja keeps 400 by default: fewer than
    # the templates times the languages).
    cache_size=4000,
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
i18n.install(templates)


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return _("Never")
    seconds = int(((now or clock.now()) - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds >= 86400:
        n = seconds // 86400
        if future:
            return ngettext("in %(num)d day", "in %(num)d days", n) % {"num": n}
        return ngettext("%(num)d day ago", "%(num)d days ago", n) % {"num": n}
    if seconds >= 3600:
        n = seconds // 3600
        if future:
            return ngettext("in %(num)d hour", "in %(num)d hours", n) % {"num": n}
        return ngettext("%(num)d hour ago", "%(num)d hours ago", n) % {"num": n}
    if seconds >= 60:
        n = seconds // 60
        if future:
            return ngettext("in %(num)d minute", "in %(num)d minutes", n) % {"num": n}
        return ngettext("%(num)d minute ago", "%(num)d minutes ago", n) % {"num": n}
    return _("just now")


# A web address inside already-escaped text: it stops at whitespace and at an escaped quote or
# angle bracket, so it can never leave the href attribute it is put in.
_ESCAPED_URL = re.compile(r"https?://(?:(?!&lt;|&gt;|&#34;|&#39;|&quot;)[^\s<>\"'])+")


def linkify(text: str | None) -> Markup:
    """Plain text, escaped first, with its http(s) addresses turned into links."""

    def link(match: re.Match) -> str:
        url = match.group(0)
        trail = len(url) - len(url.rstrip(".,:!?)]"))
        url, rest = (url[:-trail], url[-trail:]) if trail else (url, "")
        return f'<a href="{url}" rel="noopener noreferrer" target="_blank">{url}</a>{rest}'

    return Markup(_ESCAPED_URL.sub(link, str(escape(text or ""))))


def _macro(template: str, name: str) -> Callable[..., str]:
    """A macro of a template: Jinja makes each one an attribute of the template's module."""
    macro: Callable[..., str] = getattr(templates.get_template(template).module, name)
    return macro


def permission_summary(keys: tuple[str, ...], owner: bool = False) -> Markup:
    """A grant in one line (shared/permission_summary.html), rendered once per distinct grant
    and language: an account's rows share a handful, and a macro call per row is a tenth of a
    Users tab."""
    return _permission_summary(tuple(keys), owner, i18n.current().code)


@lru_cache(maxsize=1024)
def _permission_summary(keys: tuple[str, ...], owner: bool, _language: str) -> Markup:
    macro = _macro("shared/permission_summary.html", "permission_summary")
    # a loop in Jinja cost twice the macro
    shorts = ", ".join(_(SHORT_LABELS[k]) for k in keys)
    return Markup(macro(tuple(keys), owner, shorts, [_(LABELS[k]) for k in keys]))


def permission_checkboxes(
    selected, prefix: str, error: str | None = None, autofocus: bool = False
) -> Markup:
    """The permission checkboxes (macros.html), rendered once per distinct selection: every
    Users tab carries them in its Associate User dialog."""
    return _permission_checkboxes(tuple(selected), prefix, error, autofocus, i18n.current().code)


@lru_cache(maxsize=256)
def _permission_checkboxes(
    selected: tuple, prefix: str, error: str | None, autofocus: bool, _language: str
) -> Markup:
    macro = _macro("macros.html", "permission_checkboxes")
    return Markup(macro(selected, prefix, error, autofocus))


def permission_scope(
    scope,
    selected,
    prefix: str,
    error: str | None = None,
    presets=(),
    focus_boxes: bool = False,
    name: str = "scope",
    keys_name: str = "permissions",
    same: str | None = None,
) -> Markup:
    """All Permissions, the presets offered, or Choose Permissions, then the checkboxes
    (macros.html), rendered once per distinct state: the owner's invite form and the Associate
    User dialog carry them. `presets`: app.domain.presets.Preset values (hashable); `name`,
    `keys_name`, `same`: see the macro."""
    return _permission_scope(
        scope,
        tuple(selected),
        prefix,
        error,
        tuple(presets),
        focus_boxes,
        name,
        keys_name,
        same,
        i18n.current().code,
    )


@lru_cache(maxsize=256)
def _permission_scope(
    scope,
    selected: tuple,
    prefix: str,
    error: str | None,
    presets: tuple,
    focus_boxes: bool,
    name: str,
    keys_name: str,
    same: str | None,
    _language: str,
) -> Markup:
    macro = _macro("macros.html", "permission_scope")
    return Markup(
        macro(scope, selected, prefix, error, presets, focus_boxes, name, keys_name, same)
    )


ROWS = "shared/account_rows.html"


def cached_row(macro: str, row: dict, **context) -> Markup:
    """One row of the account-users section (a macro of shared/account_rows.html), rendered once
    per distinct row and context and then reused: rows change far less often than they are
    shown, and rendering them was most of a Users tab's cost. The macros read only their
    arguments, all of which are in the key; a template edited in development is a new key."""
    return _rendered_row(
        templates.get_template(ROWS),
        macro,
        tuple(row.items()),
        tuple(sorted(context.items())),
        i18n.current().code,
    )


@lru_cache(maxsize=2048)
def _rendered_row(template, macro: str, row: tuple, context: tuple, _language: str) -> Markup:
    return Markup(getattr(template.module, macro)(Record(row), **dict(context)))


def live_stream(url: str, regions: str) -> Markup:
    """A page's live-update stream (app/live, hx-sse): on each change, the regions named (ids,
    space-separated) are fetched again from their own data-live-src (js/behaviours/live.js).
    Its note shows only while the stream is down (data-state="reconnecting")."""
    return Markup(
        '<div class="live-stream" role="status" hx-sse:connect="{}" hx-swap="none" '
        'data-live-regions="{}"><span class="live-stream-note">{}</span></div>'
    ).format(url, regions, _("Live updates paused: reconnecting…"))


def staff_may(viewer, permission: str) -> bool:
    """For what a page offers staff (a link, a button): whether the viewer's role holds it."""
    return (
        viewer is not None
        and viewer.admin is not None
        and role_allows(viewer.admin["role"], Permission(permission))
    )


templates.filters["relative_time"] = relative_time
templates.filters["datetime"] = i18n.format_datetime  # "7 Dec 2026, 14:05", by language and zone
templates.filters["date"] = i18n.format_date
templates.filters["time"] = i18n.format_time
templates.filters["linkify"] = linkify


@pass_context
def csrf(context) -> Markup:
    """A form's CSRF field, with the token of the page being rendered (`csrf()` in any
    template, no import: see macros.html)."""
    return Markup('<input type="hidden" name="_csrf_token" value="{}">').format(
        context.get("csrf_token", "")
    )


templates.globals["csrf"] = csrf
templates.globals["language"] = i18n.current
templates.globals["js_texts"] = js_texts
templates.globals["LANGUAGES"] = i18n.LANGUAGES
# /static/<path>?v=<content hash>: cached for a year by browsers (app.http.plumbing.delivery).
templates.globals["static_url"] = static_url
templates.globals["staff_may"] = staff_may
templates.globals["PERMISSIONS"] = PERMISSIONS
templates.globals["permission_summary"] = permission_summary
templates.globals["cached_row"] = cached_row
templates.globals["live_stream"] = live_stream
templates.globals["permission_checkboxes"] = permission_checkboxes
templates.globals["permission_scope"] = permission_scope
templates.globals["PERMISSION_LABELS"] = LABELS
templates.globals["PERMISSION_SHORT"] = SHORT_LABELS
# The server's length limits, given to the browser as maxlength (app.core.validation enforces them).
templates.globals["FIELD_LIMITS"] = {
    **dict.fromkeys(("first_name", "last_name", "owner_first", "owner_last"), NAME_MAX),
    **dict.fromkeys(("company", "company_name", "name"), COMPANY_MAX),
    **dict.fromkeys(("email", "owner_email", "new_email"), EMAIL_MAX),
    **{k: v for k, v in CONTACT_LIMITS.items() if k != "country"},
    "password": MAX_PASSWORD_LENGTH,
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_fragment(request: Request) -> bool:
    """An htmx request that swaps part of a page (not a boosted navigation)."""
    return (
        is_htmx(request)
        and request.headers.get("hx-boosted") != "true"
        and request.headers.get("hx-request-type", "partial") == "partial"
    )


def csrf_token(request: Request) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token  # an Empty sentinel when unset
    return token if isinstance(token, str) else ""


def flash(request: Request, text: str, kind: str = "success", *, undo: dict | None = None) -> None:
    """A message shown by the page's one live region (#flash): rendered into it on a whole page,
    sent as a roster:flash event (HX-Trigger) with a fragment. `undo` ({"url", "token"}) adds an
    Undo button that posts the token to the url."""
    message: dict[str, str | dict] = {"kind": kind, "text": text}
    if undo:
        message["undo"] = undo
    request.scope.setdefault("state", {}).setdefault("flashes", []).append(message)


def flash_refusal(request: Request, exc: DomainError) -> None:
    """A refused action said: "wait and try again" is news, shown neutral; the rest is an error."""
    flash(request, exc.message, "info" if isinstance(exc, Throttled) else "error")


def has_flashes(request: Request) -> bool:
    return bool(request.scope.get("state", {}).get("flashes"))


def trigger(request: Request, event: str, detail: object = None) -> None:
    """A client-side event sent with the response (HX-Trigger), fired after the swap."""
    request.scope.setdefault("state", {}).setdefault("triggers", {})[event] = detail


def trigger_header(request: Request, flashes: list[dict]) -> dict:
    """HX-Trigger for a fragment: its events, and its messages as one roster:flash event. JSON
    escapes every non-ASCII character, so names in any script travel safely in a header."""
    events = dict(request.scope.get("state", {}).get("triggers", {}))
    if flashes:
        events["roster:flash"] = {"messages": flashes}
    return {"HX-Trigger": json.dumps(events)} if events else {}


def render(
    request: Request,
    template: str,
    context: dict | None = None,
    *,
    status: int = 200,
    block: str | None = None,
    headers: dict | None = None,
) -> Response:
    """The whole page, or only `block` of it (for htmx swaps of that part). A boosted navigation
    from a page in another language gets a whole page load instead (HX-Redirect): a swap of the
    body would leave the old page's <html lang dir>."""
    shown = request.headers.get("x-page-language")
    if (
        shown
        and shown != i18n.current().code
        and request.method == "GET"
        and is_htmx(request)
        and not wants_fragment(request)
    ):
        query = request.url.query
        url = request.url.path + (f"?{query}" if query else "")
        return Response("", status_code=200, headers={"HX-Redirect": url})
    html = render_html(request, template, context, block=block)
    return html_response(request, html, status=status, headers=headers)


def render_html(
    request: Request, template: str, context: dict | None = None, *, block: str | None = None
) -> str:
    """What render() answers, as text."""
    ctx = {
        "request": request,
        "viewer": viewer_of(request),
        "csrf_token": csrf_token(request),
        "flashes": request.scope.get("state", {}).get("flashes", []),
        "now": clock.now(),
        **(context or {}),
    }
    tmpl = templates.get_template(template)
    return "".join(tmpl.blocks[block](tmpl.new_context(ctx))) if block else tmpl.render(ctx)


def render_block(template: str, block: str, context: dict) -> Markup:
    """One block of a template as HTML, from `context` alone (no request): for what is kept
    and shown again (app.http.shared.account_users' section cache)."""
    tmpl = templates.get_template(template)
    return Markup("".join(tmpl.blocks[block](tmpl.new_context(context))))


def html_response(
    request: Request, html: str | bytes, *, status: int = 200, headers: dict | None = None
) -> Response:
    """HTML already rendered, with what render() adds: Vary, and a fragment's HX-Trigger."""
    flashes = request.scope.get("state", {}).get("flashes", [])
    extra = trigger_header(request, flashes) if wants_fragment(request) else {}
    return Response(
        html,
        status_code=status,
        media_type="text/html",
        headers={"Vary": "HX-Request", **extra, **(headers or {})},
    )


def redirect(request: Request, url: str) -> Response:
    """A 303 for a browser; for htmx, HX-Location so htmx navigates without a full reload."""
    if is_htmx(request):
        return Response("", status_code=200, headers={"HX-Location": url})
    return Response("", status_code=303, headers={"Location": url})
