"""The OpenID Connect provider: Authlib's authorization server, grants and endpoints, bound to
Roster's data (app.domain.oauth.grants, .apps, .keys).

Authlib is synchronous and Roster's database is not: every Authlib call runs in a worker thread
(`call`, through anyio.to_thread), and the callbacks it makes there reach the async services
through anyio.from_thread. Each callback is its own transaction, so single use comes from the
services' conditional updates (a code claimed once, a refresh token rotated once), never from a
read followed by a write here.

Requests reach Authlib as a `Snapshot` (method, URL, headers, query and form) taken by the HTTP
layer; answers leave as Authlib's (status, body, headers)."""

import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.from_thread
import anyio.to_thread
import msgspec
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749 import grants as oauth_grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet

from app.core import clock
from app.core.config import get_settings
from app.core.security import token_hash
from app.domain.activity.services import Actor
from app.domain.oauth import apps, discovery, grants, keys

T = TypeVar("T")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class Snapshot(msgspec.Struct, frozen=True):
    """What Authlib reads of an HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    args: dict[str, str]
    form: dict[str, str]
    repeated: dict[str, int]  # how many times each parameter came (Authlib refuses repeats)


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """From Authlib's worker thread: an async service, run in the event loop, awaited."""

    async def call() -> Any:
        return await fn(*args, **kwargs)

    return anyio.from_thread.run(call)


class _Payload(OAuth2Payload):
    def __init__(self, snapshot: Snapshot) -> None:
        self._data = {**snapshot.args, **snapshot.form}
        self._datalist = {
            key: [value] * snapshot.repeated.get(key, 1) for key, value in self._data.items()
        }

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class RosterRequest(OAuth2Request):
    def __init__(self, snapshot: Snapshot) -> None:
        headers = {key.title(): value for key, value in snapshot.headers.items()}
        super().__init__(snapshot.method, discovery.issuer() + snapshot.path, headers=headers)
        self.snapshot = snapshot
        self.payload = _Payload(snapshot)

    @property
    def args(self):
        return self.snapshot.args

    @property
    def form(self):
        return self.snapshot.form


class Client(ClientMixin):
    """A registered app, as Authlib asks about it."""

    def __init__(self, app: dict) -> None:
        self.app = app
        self.client_id = app["client_id"]
        self.id_token_signed_response_alg = app["id_token_alg"]
        self.client_metadata: dict = {
            "post_logout_redirect_uris": list(app["post_logout_redirect_uris"])
        }

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # OpenID Connect: the request names its redirect_uri

    def get_allowed_scope(self, scope):
        allowed = set(self.app["allowed_scopes"])
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.app["redirect_uris"]

    def check_client_secret(self, client_secret):
        return apps.secret_matches(self.app, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.app["confidential"]:
            return method in AUTH_METHODS
        return method == "none"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


class Code:
    """A claimed authorization code, as the grants read it."""

    def __init__(self, row: dict) -> None:
        self.row = row
        self.code_challenge = row["code_challenge"]
        self.code_challenge_method = row["code_challenge_method"]

    def get_redirect_uri(self):
        return self.row["redirect_uri"]

    def get_scope(self):
        return self.row["scope"]

    def get_nonce(self):
        return self.row["nonce"]

    def get_auth_time(self):
        return int(_aware(self.row["auth_time"]).timestamp())

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class Token:
    """A token row, as refresh, revocation and userinfo read it."""

    def __init__(self, row: dict, client: Client | None = None) -> None:
        self.row = row
        self.client = client
        self.scope = row["scope"]

    def check_client(self, client):
        return client.app["id"] == self.row["app"]

    def get_scope(self):
        return self.row["scope"]

    def get_user(self):
        return _run(grants.live_user, self.row["user"])

    def get_client(self):
        return self.client

    def get_expires_in(self):
        return int(grants.ACCESS_LIFETIME.total_seconds())

    def is_expired(self):
        return _aware(self.row["access_expires_at"]) <= clock.now()

    def is_revoked(self):
        return self.row["revoked_at"] is not None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _actor(user: dict) -> Actor:
    return Actor("user", user["id"], f"{user['first_name']} {user['last_name']}".strip())


class RosterCodeChallenge(CodeChallenge):
    """PKCE with S256 only: required of public apps (already at the authorization request),
    allowed for confidential ones."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not grant.request.client.app["confidential"] and not data.get("code_challenge"):
            raise InvalidRequestError("A public app must send a PKCE 'code_challenge' (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(oauth_grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*AUTH_METHODS, "none"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        _run(
            grants.save_code,
            code=code,
            app_id=request.client.app["id"],
            user_id=request.user["id"],
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method")
            if data.get("code_challenge")
            else None,
            auth_time=request.user["auth_time"],
        )

    def query_authorization_code(self, code, client):
        row = _run(grants.claim_code, code, client.app["id"])
        return Code(row) if row else None

    def delete_authorization_code(self, authorization_code):
        pass  # marked used when claimed, and kept: presented again, it revokes its tokens

    def authenticate_user(self, authorization_code):
        return _run(grants.live_user, authorization_code.row["user"])


class RosterOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce, request):
        return _run(grants.nonce_used, request.client.app["id"], nonce)

    def resolve_client_private_key(self, client):
        kid, jwk = _run(keys.signing_key, client.app["id_token_alg"])
        return KeySet.import_key_set({"keys": [jwk | {"kid": kid}]})

    def get_client_claims(self, client):
        now = int(clock.now().timestamp())
        lifetime = int(keys.ID_TOKEN_LIFETIME.total_seconds())
        return {
            "iss": discovery.issuer(),
            "aud": [client.client_id],
            "iat": now,
            "exp": now + lifetime,
        }

    def generate_user_info(self, user, scope):
        return _run(grants.claims, user["id"], scope)


class RefreshGrant(oauth_grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = _run(grants.claim_refresh, refresh_token, self.request.client.app["id"])
        return Token(row) if row else None

    def authenticate_user(self, refresh_token):
        return _run(grants.live_user, refresh_token.row["user"])

    def revoke_old_credential(self, refresh_token):
        _run(grants.revoke_token_row, refresh_token.row["id"], whole_family=False)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*AUTH_METHODS, "none"]

    def query_token(self, token_string, token_type_hint):
        row = _run(grants.find_token, token_string, token_type_hint)
        return Token(row) if row else None

    def revoke_token(self, token, request):
        # A refresh token revoked ends its family (RFC 7009 §2.1 allows it; the app asked to
        # forget the grant); an access token alone ends itself.
        refresh = token.row["refresh_token_hash"] == token_hash(request.form["token"])
        _run(grants.revoke_token_row, token.row["id"], whole_family=refresh)


class _AccessTokens(BearerTokenValidator):
    def authenticate_token(self, token_string):
        row = _run(grants.token_for_access, token_string)
        if row is None:
            return None
        app = _run(grants.app_of, row["app"])
        return Token(row, Client(app)) if app else None


class _Protector(ResourceProtector):
    """Bearer tokens, for one request (UserInfoEndpoint asks without passing it)."""

    def __init__(self, request: RosterRequest) -> None:
        super().__init__()
        self.request = request
        self.register_token_validator(_AccessTokens())

    def acquire_token(self, scopes):
        # One scope named as a string means that scope (as the framework integrations read it).
        return self.validate_request([scopes] if isinstance(scopes, str) else scopes, self.request)


class UserInfo(UserInfoEndpoint):
    def generate_user_info(self, user, scope):
        return _run(grants.claims, user["id"], scope)

    def get_issuer(self):
        return discovery.issuer()


class EndSession(EndSessionEndpoint):
    """RP-initiated logout: the post-logout redirect only to a URI registered for the app, and
    only with an ID token Roster signed (id_token_hint). The Roster session itself is ended by
    the HTTP layer, which holds the cookie."""

    def get_server_jwks(self):
        return _run(keys.jwks)

    def resolve_client_from_id_token_claims(self, id_token_claims):
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request):
        pass


class Server(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(scopes_supported=list(apps.SCOPES_SUPPORTED))
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [RosterCodeChallenge(required=True), RosterOpenIDCode()])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(EndSession)

    def query_client(self, client_id):
        app = _run(apps.find_app, client_id)
        return Client(app) if app and app["enabled"] else None

    def save_token(self, token, request):
        user = request.user
        if request.authorization_code is not None:
            code = request.authorization_code.row
            family, auth_time, from_code = grants.new_family(), code["auth_time"], code["code_hash"]
            actor: Actor | None = _actor(user)
        else:
            old = request.refresh_token.row
            family, auth_time, from_code = old["family"], old["auth_time"], old["from_code_hash"]
            actor = None
        _run(
            grants.save_tokens,
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            app_id=request.client.app["id"],
            user_id=user["id"],
            scope=token.get("scope", ""),
            auth_time=auth_time,
            family=family,
            from_code_hash=from_code,
            new_family=request.authorization_code is not None,
            actor=actor,
        )

    def _generate_token(
        self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True
    ):
        token = {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(32),
            "expires_in": int(grants.ACCESS_LIFETIME.total_seconds()),
            "scope": scope or "",
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def create_oauth2_request(self, request):
        return request if isinstance(request, OAuth2Request) else RosterRequest(request)

    def create_json_request(self, request):
        raise NotImplementedError  # no JSON-bodied endpoint

    def handle_response(self, status, body, headers):
        return status, body, list(headers)

    def send_signal(self, name, *args, **kwargs):
        pass

    def userinfo(self, snapshot: Snapshot):
        request = RosterRequest(snapshot)
        endpoint = UserInfo(self, resource_protector=_Protector(request))
        try:
            return self.handle_response(*endpoint(request))
        except OAuth2Error as error:
            return self.handle_error_response(request, error)


if not get_settings().production:
    # Development serves plain http (http://localhost): Authlib refuses that unless told.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

SERVER = Server()


async def call(fn: Callable[..., T], *args: Any) -> T:
    """Runs an Authlib call in a worker thread (its callbacks come back to this event loop)."""
    return await anyio.to_thread.run_sync(lambda: fn(*args))
