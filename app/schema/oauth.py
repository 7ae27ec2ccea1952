"""Sign in with Roster (OpenID Connect): the apps registered by staff, the keys ID tokens are
signed with, and what the protocol hands out. Codes and tokens are kept only as SHA-256 digests
(app.core.security.token_hash); a client secret likewise."""

from typing import TYPE_CHECKING

from piccolo.columns import (
    Boolean,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.schema.users import User

DEFAULT_SCOPES = "openid profile email roster.accounts"


class OAuthApp(Table, tablename="oauth_apps"):
    """An app that signs people in with Roster. `client_id`: its public id (`app_…`);
    `secret_hash`: the SHA-256 of its secret, None for a public app (which proves itself with
    PKCE alone). Redirect URIs, one a line, are matched exactly."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    client_id = Varchar(length=60, unique=True)
    secret_hash = Varchar(length=64, null=True, default=None, secret=True)
    name = Varchar(length=100)
    redirect_uris = Text(default="")
    post_logout_redirect_uris = Text(default="")
    confidential = Boolean(default=True)
    first_party = Boolean(default=False)
    allowed_scopes = Text(default=DEFAULT_SCOPES)
    id_token_alg = Varchar(length=10, default="RS256")
    enabled = Boolean(default=True)
    created_at = Timestamptz()


class OAuthSigningKey(Table, tablename="oauth_signing_keys"):
    """A key ID tokens are signed with. Published in the JWKS from `created_at`, used to sign
    from `activates_at`, published until `retired_at` (once every ID token it signed expired)."""

    if TYPE_CHECKING:
        id: Serial

    kid = Varchar(length=64, unique=True)
    alg = Varchar(length=10)
    private_jwk = Text(secret=True)
    created_at = Timestamptz()
    activates_at = Timestamptz()
    retired_at = Timestamptz(null=True, default=None)


class OAuthCode(Table, tablename="oauth_codes"):
    """An authorization code: valid 60 seconds, used once (`used_at`); `reused_at`: when it was
    presented again (every token from it revoked, and any saved later saved revoked)."""

    if TYPE_CHECKING:
        id: Serial

    code_hash = Varchar(length=64, unique=True)
    app = ForeignKey(references=OAuthApp, on_delete=OnDelete.cascade, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    redirect_uri = Text()
    scope = Text(default="")
    nonce = Varchar(length=255, null=True, default=None)
    code_challenge = Varchar(length=128, null=True, default=None)
    code_challenge_method = Varchar(length=10, null=True, default=None)
    auth_time = Timestamptz()
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    reused_at = Timestamptz(null=True, default=None)


class OAuthToken(Table, tablename="oauth_tokens"):
    """An access token (10 minutes) with its refresh token (30 days idle). Refreshing replaces
    the row's tokens by a new row of the same `family`; a refresh token presented again after
    that revokes the whole family. `from_code_hash`: the code the family began with."""

    if TYPE_CHECKING:
        id: Serial

    access_token_hash = Varchar(length=64, unique=True)
    refresh_token_hash = Varchar(length=64, unique=True, null=True, default=None)
    family = Varchar(length=64, index=True)
    app = ForeignKey(references=OAuthApp, on_delete=OnDelete.cascade, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    scope = Text(default="")
    auth_time = Timestamptz()
    issued_at = Timestamptz()
    access_expires_at = Timestamptz()
    refresh_expires_at = Timestamptz(null=True, default=None)
    refreshed_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    from_code_hash = Varchar(length=64, null=True, default=None, index=True)


class OAuthConsent(Table, tablename="oauth_consents"):
    """What a user allowed an app to see (the scopes, space-separated)."""

    if TYPE_CHECKING:
        id: Serial

    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    app = ForeignKey(references=OAuthApp, on_delete=OnDelete.cascade, index=True)
    scope = Text(default="")
    granted_at = Timestamptz()
