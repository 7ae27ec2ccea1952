"""Settings from the ROSTER_* environment variables."""

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path

import msgspec

from app.core.engines import DEFAULT_DATABASE_URL

PROJECT_DIR = Path(__file__).resolve().parents[2]
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
    # Invitations one account may send in 24 hours (ROSTER_INVITES_PER_DAY): a bulk invite of a
    # whole team may need more than the default.
    invites_per_day: int = 50
    db_pool_size: int = 10
    proxy_headers: bool = False
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    live_heartbeat_seconds: float = 25
    # Webhooks may go to loopback, private and other non-public addresses (a test receiver, an
    # internal service); off, they are refused when an endpoint is saved and when sending.
    webhook_allow_private: bool = False
    webhook_poll_seconds: float = 5
    # How long before a grant's Access until its person and the account's owner are reminded,
    # longest first (ROSTER_ACCESS_REMINDER_DAYS, e.g. "7,1").
    access_reminder_days: tuple[float, ...] = (7, 1)
    hashing_threads: int = 1

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


def _whole(env, name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= 10_000):
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def db_pool_size(env) -> int:
    """ROSTER_DB_POOL_SIZE: the most PostgreSQL connections one process keeps (default 10)."""
    return _whole(env, "ROSTER_DB_POOL_SIZE", 10)


def hashing_threads(env) -> int:
    """ROSTER_HASHING_THREADS: how many passwords one process hashes at once (argon2 takes whole
    cores; the rest wait in line). Default: one less than the machine's cores, at least one."""
    return _whole(env, "ROSTER_HASHING_THREADS", max(1, (os.cpu_count() or 1) - 1))


def invites_per_day(env) -> int:
    """ROSTER_INVITES_PER_DAY: the invitations one account may send in 24 hours (default 50)."""
    raw = env.get("ROSTER_INVITES_PER_DAY") or "50"
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= 1_000_000):
        raise ValueError(f"ROSTER_INVITES_PER_DAY must be a positive whole number, not {raw!r}")
    return int(raw)


def flag(env, name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0, not {raw!r}")


def address_list(raw: str, name: str = "ROSTER_FORWARDED_ALLOW_IPS") -> tuple[str, ...]:
    """Comma-separated addresses and CIDR networks (or `*`: any peer), each checked, since a
    misspelt entry would otherwise never match and trust nothing without a word."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise ValueError(f"{name} must list at least one address or network")
    if items == ("*",):
        return items
    for item in items:
        try:
            ipaddress.ip_network(item)  # an address is a network of one
        except ValueError as exc:
            raise ValueError(
                f"{name}: {item!r} is not an IP address or a network such as 10.0.0.0/8 ({exc})"
            ) from None
    return items


def reminder_days(env) -> tuple[float, ...]:
    """ROSTER_ACCESS_REMINDER_DAYS: comma-separated positive numbers of days (fractions allowed),
    or empty/"none" for no reminders; default "7,1". Kept longest first, each once."""
    raw = env.get("ROSTER_ACCESS_REMINDER_DAYS")
    if raw is None:
        return (7, 1)
    if raw.strip().lower() in ("", "none", "0"):
        return ()
    days = set()
    for item in raw.split(","):
        try:
            value = float(item)
        except ValueError:
            value = -1
        if not 0 < value <= 3650:
            raise ValueError(
                "ROSTER_ACCESS_REMINDER_DAYS must list positive numbers of days such as 7,1, "
                f"not {raw!r}"
            )
        days.add(value)
    return tuple(sorted(days, reverse=True))


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
        invites_per_day=invites_per_day(env),
        db_pool_size=db_pool_size(env),
        proxy_headers=flag(env, "ROSTER_PROXY_HEADERS"),
        forwarded_allow_ips=address_list(env.get("ROSTER_FORWARDED_ALLOW_IPS") or "127.0.0.1"),
        live_heartbeat_seconds=_number(env, "ROSTER_LIVE_HEARTBEAT_SECONDS", 25),
        webhook_allow_private=flag(env, "ROSTER_WEBHOOK_ALLOW_PRIVATE"),
        webhook_poll_seconds=_number(env, "ROSTER_WEBHOOK_POLL_SECONDS", 5),
        access_reminder_days=reminder_days(env),
        hashing_threads=hashing_threads(env),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
