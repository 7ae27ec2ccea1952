"""Sign in with Roster (OpenID Connect): apps, signing keys, authorization codes, tokens and
consents. Codes and tokens are kept as SHA-256 digests only.

Raw, like the migration of 2026-12-10: the tables are created from frozen copies of their
classes, then the unique index of one consent per user and app (which Piccolo cannot declare
over two columns)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class OAuthApp(Table, tablename="oauth_apps"):
    client_id = Varchar(length=60, unique=True)
    secret_hash = Varchar(length=64, null=True, default=None)
    name = Varchar(length=100)
    redirect_uris = Text(default="")
    post_logout_redirect_uris = Text(default="")
    confidential = Boolean(default=True)
    first_party = Boolean(default=False)
    allowed_scopes = Text(default="openid profile email roster.accounts")
    id_token_alg = Varchar(length=10, default="RS256")
    enabled = Boolean(default=True)
    created_at = Timestamptz()


class OAuthSigningKey(Table, tablename="oauth_signing_keys"):
    kid = Varchar(length=64, unique=True)
    alg = Varchar(length=10)
    private_jwk = Text()
    created_at = Timestamptz()
    activates_at = Timestamptz()
    retired_at = Timestamptz(null=True, default=None)


class OAuthCode(Table, tablename="oauth_codes"):
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


class OAuthToken(Table, tablename="oauth_tokens"):
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
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    app = ForeignKey(references=OAuthApp, on_delete=OnDelete.cascade, index=True)
    scope = Text(default="")
    granted_at = Timestamptz()


ID = "2026-12-13T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "OpenID Connect: apps, signing keys, codes, tokens, consents"

CONSENT_INDEX = 'CREATE UNIQUE INDEX oauth_consents_user_app ON oauth_consents ("user", app)'
TABLES = (OAuthApp, OAuthSigningKey, OAuthCode, OAuthToken, OAuthConsent)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_tables():
        from piccolo_conf import DB

        for table in TABLES:
            await table.create_table()
        await DB.run_ddl(CONSENT_INDEX)

    async def drop_tables():
        for table in reversed(TABLES):
            await table.alter().drop_table()

    manager.add_raw(create_tables)
    manager.add_raw_backwards(drop_tables)
    return manager
