"""For load balancers and operators: `GET /healthz` (the process answers; no database) and
`GET /readyz` (the database answers within 2 seconds and every migration has run: 200, else
503), both JSON; and an `X-Request-ID` on every answer, also on the request's log lines.

Answered in front of the app, so neither probe loads a session, sets a cookie or renders a
page."""

import asyncio
import importlib
import pkgutil
import re
import uuid
from functools import cache

import msgspec
from piccolo.apps.migrations.tables import Migration

from app.core.logging_setup import request_id
from app.schema import migrations

READY_TIMEOUT_SECONDS = 2
REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept when it looks like one (a proxy's or a client's), else a new one is made.
_CALLER_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


@cache
def expected_migrations() -> frozenset[str]:
    return frozenset(
        importlib.import_module(f"{migrations.__name__}.{module.name}").ID
        for module in pkgutil.iter_modules(migrations.__path__)
    )


async def readiness() -> tuple[bool, str]:
    try:
        ran = await asyncio.wait_for(
            Migration.get_migrations_which_ran(app_name="roster"), READY_TIMEOUT_SECONDS
        )
    except Exception:  # unreachable, refused, timed out, no migration table: not ready
        return False, "The database does not answer."
    missing = expected_migrations() - set(ran)
    if missing:
        return False, f"{len(missing)} migration(s) not applied: run `roster migrate`."
    return True, "ready"


async def _answer(send, status: int, body: dict) -> None:
    payload = msgspec.json.encode(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def serving_health(handler):
    """An ASGI handler: the probes, a request id for everything, the rest to `handler`."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await handler(scope, receive, send)
        given = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER, b"")
        rid = given.decode() if _CALLER_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER],
                    (REQUEST_ID_HEADER, rid.encode()),
                ]
            await send(message)

        try:
            if scope["path"] == "/healthz":
                await _answer(send_with_id, 200, {"status": "ok"})
            elif scope["path"] == "/readyz":
                ready, detail = await readiness()
                status = "ready" if ready else "unavailable"
                await _answer(
                    send_with_id, 200 if ready else 503, {"status": status, "detail": detail}
                )
            else:
                await handler(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    return app
