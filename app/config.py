"""Settings from the ROSTER_* environment variables (SPEC §7)."""

import os
import secrets
from functools import lru_cache
from pathlib import Path

import msgspec

from piccolo_conf import DEFAULT_DATABASE_URL

PROJECT_DIR = Path(__file__).resolve().parent.parent
FRONTEND_DIR = PROJECT_DIR / "frontend"
DEV_SECRET_FILE = Path(".roster-secret")


class Settings(msgspec.Struct, frozen=True):
    database_url: str
    secret_key: str
    base_url: str
    smtp_url: str | None
    mail_from: str
    env: str
    session_idle_hours: float = 12
    session_max_days: float = 30
    resend_cooldown_seconds: float = 60

    @property
    def production(self) -> bool:
        return self.env == "production"


def _development_secret() -> str:
    """Generated once into a local, git-ignored file so sessions survive restarts."""
    if DEV_SECRET_FILE.exists():
        return DEV_SECRET_FILE.read_text().strip()
    secret = secrets.token_urlsafe(48)
    DEV_SECRET_FILE.write_text(secret + "\n")
    DEV_SECRET_FILE.chmod(0o600)
    return secret


def _number(env, name: str, default: float, *, zero_allowed: bool = False) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not zero_allowed):
        kind = "a number, 0 or more" if zero_allowed else "a positive number"
        raise ValueError(f"{name} must be {kind}, not {raw!r}")
    return value


def load_settings(environ: "dict[str, str] | None" = None) -> Settings:
    env = os.environ if environ is None else environ
    mode = env.get("ROSTER_ENV") or "development"
    if mode not in ("development", "production"):
        raise ValueError(f"ROSTER_ENV must be development or production, not {mode!r}")
    secret = env.get("ROSTER_SECRET_KEY")
    if not secret:
        if mode == "production":
            raise ValueError("ROSTER_SECRET_KEY is required when ROSTER_ENV=production")
        secret = _development_secret()
    return Settings(
        database_url=env.get("ROSTER_DATABASE_URL") or DEFAULT_DATABASE_URL,
        secret_key=secret,
        base_url=(env.get("ROSTER_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        smtp_url=env.get("ROSTER_SMTP_URL") or None,
        mail_from=env.get("ROSTER_MAIL_FROM") or "Roster <no-reply@localhost>",
        env=mode,
        session_idle_hours=_number(env, "ROSTER_SESSION_IDLE_HOURS", 12),
        session_max_days=_number(env, "ROSTER_SESSION_MAX_DAYS", 30),
        resend_cooldown_seconds=_number(
            env, "ROSTER_RESEND_COOLDOWN_SECONDS", 60, zero_allowed=True
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
