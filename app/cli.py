"""The `roster` command (also `python -m app`)."""

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import sys
import warnings

from app.core.errors import DomainError


async def migrate(*, say=print) -> None:
    """Applies the migrations not yet run, and says how many in one line (Piccolo's own report
    miscounts on a fresh database: "11 already complete", then "11 not yet run")."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.core import db

    await db.start()
    try:
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter):
            before = await _migrations_run()
            result = await run_forwards(app_name="roster", migration_id="all")
        if not result.success:
            print(chatter.getvalue(), file=sys.stderr)
            raise SystemExit(f"Migrations failed: {result.message}")
        applied = await _migrations_run() - before
        say(
            f"Applied {len(applied)} migration{'s' if len(applied) != 1 else ''}."
            if applied
            else "The database is up to date: no migration to apply."
        )
    finally:
        await db.stop()


async def _migrations_run() -> set[str]:
    from piccolo.apps.migrations.tables import Migration

    if not await Migration.table_exists():
        return set()
    return set(await Migration.get_migrations_which_ran(app_name="roster"))


async def _with_db(coro_fn, *args, **kwargs):
    from app.core import db

    await db.start()
    try:
        return await coro_fn(*args, **kwargs)
    finally:
        await db.stop()


# This machine's own addresses, served in development as http://localhost: the one local name
# a browser lets WebAuthn use (a passkey's relying party is a host name, never an address).
LOOPBACK = ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost")


def served_base_url(env, host: str, port: int) -> str | None:
    """In development without ROSTER_BASE_URL, emailed links point at the server being started
    (`make run PORT=18700`), not at the default port; None when nothing is to be set."""
    if env.get("ROSTER_BASE_URL") or env.get("ROSTER_ENV") == "production":
        return None
    if host in LOOPBACK:
        host = "localhost"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def cmd_serve(args) -> int:
    from app import serving
    from app.core.config import get_settings
    from app.core.engines import names_sqlite
    from app.core.logging_setup import configure_logging

    configure_logging()
    if base_url := served_base_url(os.environ, args.host, args.port):
        os.environ["ROSTER_BASE_URL"] = base_url  # the workers inherit it
    settings = get_settings()  # checked (and a development secret made) before any worker
    options = serving.ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        graceful_timeout=args.graceful_timeout,
        proxy_headers=settings.proxy_headers if args.proxy_headers is None else args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips or settings.forwarded_allow_ips,
    )
    # Decided by the URL, not by this process's engine: the workers make theirs from the URL.
    sqlite = names_sqlite(settings.database_url)
    if options.workers > 1 and sqlite:
        print(serving.SQLITE_ONE_PROCESS, file=sys.stderr)
        return 2
    if not sqlite:
        budget = asyncio.run(serving.read_connection_budget(settings.database_url))
        refusal = serving.budget_refusal(budget, options.workers, settings.db_pool_size)
        if refusal:
            print(refusal, file=sys.stderr)
            return 2
    asyncio.run(migrate())
    return serving.serve(options)


def cmd_migrate(_args) -> int:
    asyncio.run(migrate())
    return 0


def cmd_demo(_args) -> int:
    from app.core.config import get_settings
    from app.demo import load_demo

    if get_settings().production:
        print("roster demo is not available when ROSTER_ENV=production.", file=sys.stderr)
        return 2
    logins = asyncio.run(_with_db(load_demo))
    print("Demo data loaded. Logins:")
    for area, email, password, note in logins:
        print(f"  {area:<7} {email:<28} {password:<22} {note}")
    return 0


def cmd_create_admin(args) -> int:
    from app.domain.activity.services import SYSTEM
    from app.domain.staff.services import create_admin

    admin_id = asyncio.run(
        _with_db(
            create_admin,
            email=args.email,
            password=args.password,
            name=args.name,
            role=args.role,
            actor=SYSTEM,
        )
    )
    print(admin_id)
    return 0


def cmd_create_client(args) -> int:
    from app.domain.activity.services import SYSTEM
    from app.domain.clients.services import create_client

    client_id = asyncio.run(
        _with_db(
            create_client,
            owner_email=args.owner_email,
            owner_first=args.owner_first,
            owner_last=args.owner_last,
            owner_password=args.owner_password,
            company=args.company or "",
            actor=SYSTEM,
        )
    )
    print(client_id)
    return 0


def cmd_create_api_credential(args) -> int:
    from app.domain.activity.services import SYSTEM
    from app.domain.credentials.services import create_credential_for_staff_email

    created = asyncio.run(
        _with_db(
            create_credential_for_staff_email,
            args.email,
            description=args.description or "",
            allowed_ips=args.allow_ip or [],
            actor=SYSTEM,
        )
    )
    print(json.dumps({"identifier": created.identifier, "secret": created.secret}))
    return 0


def cmd_rotate_signing_key(args) -> int:
    from app.domain.oauth.keys import ALGORITHMS, rotate

    added = asyncio.run(_with_db(rotate, tuple(args.alg or ALGORITHMS)))
    for key in added:
        print(f"{key['alg']} {key['kid']} signs from {key['activates_at']:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def cmd_sweep_access(_args) -> int:
    """Ends the access whose Access until has come and sends the reminders due, once, as every
    `roster serve` process does every 15 seconds; prints how many of each as JSON. Safe beside
    running servers: each removal and reminder is claimed by one conditional statement."""
    from app.domain.access.services import end_expired_access, send_access_reminders

    async def sweep() -> dict[str, int]:
        return {"expired": await end_expired_access(), "reminded": await send_access_reminders()}

    print(json.dumps(asyncio.run(_with_db(sweep))))
    return 0


def cmd_mail_worker(_args) -> int:
    from app.core.config import get_settings
    from app.core.logging_setup import configure_logging
    from app.domain.mail.worker import run_worker
    from app.domain.webhooks.sender import run_sender

    configure_logging()
    settings = get_settings()
    if not settings.smtp_url:
        print(
            "ROSTER_SMTP_URL is not set: emails stay queued; only webhooks are sent.",
            file=sys.stderr,
        )

    async def work(stop: asyncio.Event) -> None:
        workers = [run_sender(settings, stop)]
        if settings.smtp_url:
            workers.append(run_worker(settings, stop))
        await asyncio.gather(*workers)

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(_with_db(work, stop))

        def on_signal() -> None:
            # The first signal: finish the email or webhook being sent, then stop. Another one:
            # stop now (what was being sent is given back to its queue).
            if stop.is_set():
                task.cancel()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        logging.getLogger("roster.mail").info("Mail worker started (SIGTERM or Ctrl+C stops it)")
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, not {text!r}")
    return value


def _address_list(text: str) -> tuple[str, ...]:
    from app.core.config import address_list

    try:
        return address_list(text, "--forwarded-allow-ips")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roster", description="Roster: users and client accounts.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web app under uvicorn (applies migrations first)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes, each with its own socket on the port (above 1: PostgreSQL only)",
    )
    s.add_argument(
        "--graceful-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl+C, how long open requests may take to finish (default 30)",
    )
    s.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the client address (and scheme) from X-Forwarded-For (-Proto) when the "
        "request comes from a trusted proxy (default: ROSTER_PROXY_HEADERS, else off)",
    )
    s.add_argument(
        "--forwarded-allow-ips",
        type=_address_list,
        metavar="LIST",
        help="comma-separated addresses or CIDR networks of the trusted proxies "
        "(default: ROSTER_FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )
    s.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo data (idempotent) and print its logins").set_defaults(
        func=cmd_demo
    )

    a = sub.add_parser("create-admin", help="create a staff account")
    a.add_argument("--email", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--name", default="Administrator")
    a.add_argument("--role", choices=["full", "support"], default="full")
    a.set_defaults(func=cmd_create_admin)

    c = sub.add_parser("create-client", help="create a client account with its owner")
    c.add_argument("--owner-email", required=True)
    c.add_argument("--owner-first", required=True)
    c.add_argument("--owner-last", required=True)
    c.add_argument("--owner-password")
    c.add_argument("--company")
    c.set_defaults(func=cmd_create_client)

    k = sub.add_parser(
        "create-api-credential",
        help="create an API credential for a staff member; prints its identifier and secret",
    )
    k.add_argument("--email", required=True, help="the staff member's email address")
    k.add_argument("--description")
    k.add_argument(
        "--allow-ip",
        action="append",
        metavar="IP",
        help="an address or CIDR network the credential may be used from (repeatable)",
    )
    k.set_defaults(func=cmd_create_api_credential)

    r = sub.add_parser(
        "rotate-signing-key",
        help="add ID token signing keys: published now, signing in an hour; retires old ones",
    )
    r.add_argument("--alg", action="append", choices=("RS256", "ES256"), help="(repeatable)")
    r.set_defaults(func=cmd_rotate_signing_key)

    sub.add_parser(
        "mail-worker", help="deliver queued emails and webhooks until stopped"
    ).set_defaults(func=cmd_mail_worker)
    sub.add_parser(
        "sweep-access",
        help="end the access whose Access until has come and send the reminders due, once",
    ).set_defaults(func=cmd_sweep_access)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Piccolo warns on its own when the database is down; our one line below says it all.
    warnings.filterwarnings("ignore", message=".*Unable to connect to database")
    try:
        return args.func(args)
    except DomainError as exc:
        print(f"roster: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"roster: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from app.core.dberrors import is_database_unavailable

        if not is_database_unavailable(exc):
            raise
        print(f"roster: cannot reach the database ({_database_shown()}): {exc}", file=sys.stderr)
        return 3


def _database_shown() -> str:
    """The database URL without its password."""
    from urllib.parse import urlsplit

    from app.core.config import get_settings

    url = get_settings().database_url
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url
