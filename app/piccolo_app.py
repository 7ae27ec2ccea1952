import os

from piccolo.conf.apps import AppConfig

from app.access.tables import Grant
from app.active_sessions.tables import KnownBrowser, SignInAlertOptOut
from app.activity.tables import ActivityEntry
from app.admin.tables import Admin, Setting
from app.auth.tables import LoginFailure, PasswordReset, PendingSignIn, Session
from app.clients.tables import Client
from app.credentials.tables import ApiCredential
from app.invitations.tables import Invitation
from app.mail.tables import OutboundEmail
from app.two_factor.tables import RecoveryCode, TwoFactor
from app.users.tables import User
from app.verification.tables import EmailVerification

TABLES = [
    User,
    Admin,
    Setting,
    Client,
    Grant,
    Invitation,
    OutboundEmail,
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
]

APP_CONFIG = AppConfig(
    app_name="roster",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
