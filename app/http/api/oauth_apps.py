"""/api/v1/apps: the apps that sign people in with Roster (OpenID Connect), over the same
services as the /admin/apps screen. A Client Secret is in the answer that made it, never again."""

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from app.core.db import MAX_ID
from app.core.policy import Permission
from app.domain.oauth import apps

from . import schemas as s
from .auth import caller_of
from .problems import problem_responses
from .resources import ETAG, IfMatch, Limit, Offset, precondition, tagged

AppId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The app's id.")]


def app_out(row: dict) -> s.App:
    return s.App(
        id=row["id"],
        client_id=row["client_id"],
        name=row["name"],
        redirect_uris=list(row["redirect_uris"]),
        post_logout_redirect_uris=list(row["post_logout_redirect_uris"]),
        confidential=row["confidential"],
        first_party=row["first_party"],
        allowed_scopes=list(row["allowed_scopes"]),
        id_token_alg=row["id_token_alg"],
        enabled=row["enabled"],
        created_at=row["created_at"],
    )


def with_secret(row: dict, secret: str | None) -> s.AppWithSecret:
    return s.AppWithSecret(**msgspec.structs.asdict(app_out(row)), client_secret=secret)


def app_tagged(body: s.App | s.AppWithSecret, row: dict) -> Response:
    """The answer with its ETag: the version of what a PATCH can set."""
    return tagged(body, apps.edited_values(row))


class Apps(Controller):
    """Apps that sign people in with Roster."""

    path = "/apps"
    tags = ["Apps"]

    @get(
        summary="List apps, oldest first (never their secrets)",
        responses=problem_responses(403),
        permission=Permission.MANAGE_APPS,
    )
    async def list_apps(self, request: Request, offset: Offset = 0, limit: Limit = 25) -> s.AppList:
        rows = await apps.list_apps(actor=caller_of(request).actor)
        items = [app_out(r) for r in rows[offset : offset + limit]]
        return s.AppList(items, len(rows), offset, limit)

    @post(
        summary="Register an app",
        description="The answer holds its `client_id` and, for a confidential app, its "
        "`client_secret`: the only time the secret is shown.",
        permission=Permission.MANAGE_APPS,
        responses=problem_responses(400, 403),
    )
    async def create_app(
        self, request: Request, data: JSONBody[s.AppCreate]
    ) -> Response[s.AppWithSecret]:
        data.check()
        actor = caller_of(request).actor
        new = await apps.create_app(**msgspec.structs.asdict(data), actor=actor)
        row = await apps.get_app(new.app_id, actor=actor)
        return Response(with_secret(row, new.client_secret), status_code=201)

    @get(
        "/{app_id:int}",
        summary="One app (never its secret)",
        responses=problem_responses(403, 404),
        response_headers=ETAG,
        permission=Permission.MANAGE_APPS,
    )
    async def get_app(self, request: Request, app_id: AppId) -> Response[s.App]:
        row = await apps.get_app(app_id, actor=caller_of(request).actor)
        return app_tagged(app_out(row), row)

    @patch(
        "/{app_id:int}",
        summary="Change an app (only the fields sent)",
        description="With If-Match (the ETag read), only if what it can change is still as "
        "read (else 412, nothing changed). Disabled (`enabled: false`), it signs nobody in and "
        "every token it holds is refused. Made public, it loses its secret; made confidential, "
        "it gets a new one, in `client_secret` of this answer only (else null).",
        permission=Permission.MANAGE_APPS,
        responses=problem_responses(400, 403, 404, 412),
        response_headers=ETAG,
    )
    async def update_app(
        self,
        request: Request,
        app_id: AppId,
        data: JSONBody[s.AppUpdate],
        if_match: IfMatch = None,
    ) -> Response[s.AppWithSecret]:
        data.check()
        row, secret = await apps.update_app(
            app_id,
            **data.changes(),
            actor=caller_of(request).actor,
            opened=precondition(if_match),
        )
        return app_tagged(with_secret(row, secret), row)

    @delete(
        "/{app_id:int}",
        summary="Delete an app, with every code, token and consent it holds",
        permission=Permission.MANAGE_APPS,
        responses=problem_responses(403, 404),
    )
    async def delete_app(self, request: Request, app_id: AppId) -> None:
        await apps.delete_app(app_id, actor=caller_of(request).actor)

    @post(
        "/{app_id:int}/rotate-secret",
        summary="Give a confidential app a new Client Secret",
        description="The answer holds the new secret: the only time it is shown. The previous "
        "one stops working at once. A public app has none (409).",
        status_code=200,
        permission=Permission.MANAGE_APPS,
        responses=problem_responses(403, 404, 409),
    )
    async def rotate_secret(self, request: Request, app_id: AppId) -> s.AppWithSecret:
        actor = caller_of(request).actor
        new = await apps.rotate_secret(app_id, actor=actor)
        return with_secret(await apps.get_app(app_id, actor=actor), new.client_secret)
