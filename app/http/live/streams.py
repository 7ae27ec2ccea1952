"""The live-update streams (Server-Sent Events), one per live page: the admin Users tab of an
account, the owner's User Management, the admin clients list and the mail outbox.

A stream says only `roster:changed` and the kinds of change (people, invites, account; where is
its own URL); the page then fetches the lists that show them again, with its own session,
through the same routes and guards as any click. The same guards open a stream; anyone they
would turn away gets 204 No Content (never a redirect or a page: a stream has nowhere to show
one), on which the page's script stops asking. The session and the permission are checked again
before every message, news or heartbeat: a stream whose viewer lost either says `roster:changed`
one last time (the re-fetch then meets the login page or the refusal, as a click would) and ends,
so an ex-member never hears when a busy account changes. The check is the one that opened the
stream, one statement (app.domain.auth.services.load_viewer); news that comes within NEWS_SPACING
of the last message waits and folds into one, so a flood of changes costs a stream at most one check
a second."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.auth.services import load_viewer
from app.domain.live import broker as live
from app.domain.live.broker import BROKER
from app.http.plumbing import metrics
from app.http.plumbing.guards import check
from app.http.plumbing.middleware import session_cookie_value, viewer_of

EVENT = "roster:changed"  # its data: the kinds of change, space-separated (app.domain.live.broker)
STREAMS_PER_SESSION = 8  # in one process: tabs open on live pages at once
NEWS_SPACING = 1.0  # seconds: at least this between two news messages of one stream

_open_by_session: Counter[int] = Counter()

Check = Callable[[Request], Awaitable[str]]  # the topic, or raises when not allowed


async def _allowed(request: Request, check: Check) -> str | None:
    try:
        return await check(request)
    except (NotAuthorizedException, PermissionDeniedException, DomainError):
        return None


async def _still_allowed(
    request: Request, check: Check, topic: str, cookie: str | None
) -> bool | None:
    """Whether the viewer may still hear `topic`: the session read again, then the check that
    opened the stream. None when the database is away."""
    try:
        request.scope["state"]["viewer"] = await load_viewer(cookie)
    except Exception:
        return None
    return await _allowed(request, check) == topic


async def _events(request: Request, check: Check, topic: str, session_id: int) -> AsyncIterator:
    """Holds one of the session's places (taken by _stream) and gives it back when it ends."""
    try:
        metrics.LIVE_STREAMS.inc()
        heartbeat = get_settings().live_heartbeat_seconds
        cookie = session_cookie_value(request.scope)
        with BROKER.subscribe(topic) as subscription:
            yield ServerSentEventMessage(data=None, comment="connected")
            said_at = -NEWS_SPACING
            while not subscription.closed:
                kinds = await subscription.wait(heartbeat)
                if kinds is not None and not subscription.closed:
                    pause = said_at + NEWS_SPACING - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                        kinds |= subscription.take()
                if subscription.closed:
                    return  # the process is stopping; the browser reconnects elsewhere
                allowed = await _still_allowed(request, check, topic, cookie)
                if allowed is None:  # the database is away: the browser reconnects when it is back
                    return
                if not allowed:
                    yield ServerSentEventMessage(event=EVENT, data=live.EVERYTHING)
                    return
                if kinds is None:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
                else:
                    yield ServerSentEventMessage(event=EVENT, data=" ".join(sorted(kinds)))
                    said_at = time.monotonic()
    finally:
        _open_by_session[session_id] -= 1
        if _open_by_session[session_id] <= 0:
            del _open_by_session[session_id]
        metrics.LIVE_STREAMS.dec()


async def _started(first, rest: AsyncIterator) -> AsyncIterator:
    yield first
    async for message in rest:
        yield message


async def _stream(request: Request, check: Check) -> Response | ServerSentEvent:
    topic = await _allowed(request, check)
    if topic is None:
        return Response(content=b"", status_code=204)
    session_id = viewer_of(request).current_session_id
    # Counted and taken with no await in between, so parallel opens see each other's places.
    if _open_by_session[session_id] >= STREAMS_PER_SESSION:
        return Response(
            content=_("Too many live pages are open in this browser: close a few tabs."),
            status_code=429,
            headers={"retry-after": "30"},
            media_type="text/plain",
        )
    _open_by_session[session_id] += 1
    events = _events(request, check, topic, session_id)
    # Started here (its first message comes without waiting), so that its `finally` gives the
    # place back even if the reply is never sent: a generator never started never finishes.
    connected = await anext(events)
    return ServerSentEvent(
        _started(connected, events),
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _staff_check(permission: Permission, topic: Callable[[Request], str]) -> Check:
    async def staff_check(request: Request) -> str:
        await check(request, permission)
        if viewer_of(request).must_enrol_two_factor:
            raise PermissionDeniedException("Enrol in two-factor authentication first.")
        return topic(request)

    return staff_check


async def _owners_account(request: Request) -> str:
    await check(request, Permission.ACCOUNT_OWNER)
    viewer = viewer_of(request)
    if not viewer.manages_users:  # staff turned User Management off (access.check_manager)
        raise PermissionDeniedException("User management is turned off for client accounts.")
    return live.account(viewer.current_client["id"])


_account_users = _staff_check(
    Permission.VIEW_ACCOUNT_USERS,
    lambda request: live.account(request.path_params["client_id"]),
)
_clients = _staff_check(Permission.STAFF, lambda _request: live.CLIENTS)
_mail = _staff_check(Permission.STAFF, lambda _request: live.MAIL)


@get("/live/account/users", permission=Permission.ACCOUNT_OWNER)
async def account_users_stream(request: Request) -> Response | ServerSentEvent:
    """The owner's User Management (/account/users) of their current account."""
    return await _stream(request, _owners_account)


@get("/live/admin/clients/{client_id:int}/users", permission=Permission.VIEW_ACCOUNT_USERS)
async def admin_users_stream(
    request: Request, client_id: FromPath[int]
) -> Response | ServerSentEvent:
    """An account's Users tab (/admin/clients/{id}/users)."""
    return await _stream(request, _account_users)


@get("/live/admin/clients", permission=Permission.STAFF)
async def clients_stream(request: Request) -> Response | ServerSentEvent:
    """The clients list (/admin/clients)."""
    return await _stream(request, _clients)


@get("/live/admin/mail", permission=Permission.STAFF)
async def mail_stream(request: Request) -> Response | ServerSentEvent:
    """The mail outbox (/admin/mail)."""
    return await _stream(request, _mail)


ROUTES = [account_users_stream, admin_users_stream, clients_stream, mail_stream]
