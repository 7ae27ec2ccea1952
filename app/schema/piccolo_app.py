import os

from piccolo.conf.apps import AppConfig

from app.schema.activity import ActivityEntry
from app.schema.browsers import KnownBrowser, SignInAlertOptOut
from app.schema.clients import Client
from app.schema.credentials import ApiCredential
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.mail import EmailAttempt, OutboundEmail
from app.schema.oauth import OAuthApp, OAuthCode, OAuthConsent, OAuthSigningKey, OAuthToken
from app.schema.passkeys import Passkey, PasskeyChallenge
from app.schema.presets import PermissionPreset
from app.schema.sessions import LoginFailure, PasswordReset, PendingSignIn, Session
from app.schema.sso import SsoToken
from app.schema.staff import Admin, Setting
from app.schema.transfers import OwnershipTransfer
from app.schema.two_factor import RecoveryCode, TwoFactor
from app.schema.users import User
from app.schema.verification import EmailVerification
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint

TABLES = [
    User,
    Admin,
    Setting,
    Client,
    Grant,
    Invitation,
    OutboundEmail,
    EmailAttempt,
    ActivityEntry,
    Session,
    LoginFailure,
    PasswordReset,
    ApiCredential,
    TwoFactor,
    RecoveryCode,
    PendingSignIn,
    KnownBrowser,
    SignInAlertOptOut,
    EmailVerification,
    WebhookEndpoint,
    WebhookDelivery,
    SsoToken,
    OAuthApp,
    OAuthSigningKey,
    OAuthCode,
    OAuthToken,
    OAuthConsent,
    OwnershipTransfer,
    Passkey,
    PasskeyChallenge,
    PermissionPreset,
]

APP_CONFIG = AppConfig(
    app_name="roster",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
