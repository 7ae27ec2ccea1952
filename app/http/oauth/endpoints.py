"""Discovery, the JWKS, and (app.http.oauth.flow) the authorization, token, userinfo,
revocation and logout endpoints."""

from litestar import Response, get

from app.core.policy import Permission
from app.domain.oauth import discovery, keys

# Relying parties cache these; a new key is published an hour before it signs.
_CACHED = {"Cache-Control": "public, max-age=300"}


@get(discovery.DISCOVERY_PATH, permission=Permission.PUBLIC)
async def openid_configuration() -> Response:
    return Response(discovery.configuration(), headers=_CACHED)


@get(discovery.JWKS_PATH, permission=Permission.PUBLIC)
async def jwks() -> Response:
    return Response(await keys.jwks(), headers=_CACHED, media_type="application/jwk-set+json")


ROUTES = [openid_configuration, jwks]
