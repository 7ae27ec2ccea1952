"""SQL statements per render, in a process of its own.

The app runs in this process (httpx's ASGITransport, no lifespan: no mail worker or sweeper adds
statements) on the scratch database named by ROSTER_DATABASE_URL, set by bench/suite.py. The app
gets no hook of its own; this process counts around it:

- piccolo: calls of the engine's run_querystring (every Piccolo query, raw ones too; not the
  BEGIN/COMMIT of transactions, nor the viewer's read, which app.core.db.fetch_quick runs without
  Piccolo: the counts below see it);
- sqlite (SQLite): statements the SQLite library ran, from sqlite3's trace callback on every
  connection opened (PRAGMAs, BEGIN and COMMIT included), and the connections opened;
- wire (PostgreSQL): round trips asyncpg made (execute, fetch, fetchrow, fetchval, executemany,
  fetchmany on a connection: transactions' BEGIN/COMMIT and the pool's reset query on each
  release included);
- server_log (PostgreSQL, when the server's log file is readable and --pg-log names it): the
  lines `statement:` and `execute …:` the server logged for this database (the suite sets
  log_statement=all on the scratch database): what the database itself saw.

Each page is rendered --renders times (the first may fill caches) and each render counted.
Prints JSON on its last line."""

import argparse
import asyncio
import json
import os
import re
import sqlite3
import time
from pathlib import Path

import httpx

from bench.sessions import Cookies, headers_for

SIZES = (1, 25, 1000)


class Counter:
    def __init__(self) -> None:
        self.active = False
        self.counts = {"piccolo": 0, "sqlite": 0, "sqlite_connections": 0, "wire": 0}
        self.texts: list[str] = []

    def hit(self, kind: str, text: str = "") -> None:
        if self.active:
            self.counts[kind] += 1
            if kind in ("sqlite", "wire"):
                self.texts.append(" ".join(str(text).split())[:160])

    def start(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.texts = []
        self.active = True

    def stop(self) -> dict:
        self.active = False
        return dict(self.counts)


COUNTER = Counter()


def patch(engine_class) -> None:
    original = engine_class.run_querystring

    async def counting(self, *args, **kwargs):
        COUNTER.hit("piccolo")
        return await original(self, *args, **kwargs)

    engine_class.run_querystring = counting

    connect = sqlite3.connect

    def traced_connect(*args, **kwargs):
        connection = connect(*args, **kwargs)
        COUNTER.hit("sqlite_connections")
        connection.set_trace_callback(lambda text: COUNTER.hit("sqlite", text))
        return connection

    sqlite3.connect = traced_connect

    try:
        from asyncpg.connection import Connection
    except ImportError:
        return
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany"):
        method = getattr(Connection, name)

        def wrap(method):
            async def counted(self, query, *args, **kwargs):
                COUNTER.hit("wire", query)
                return await method(self, query, *args, **kwargs)

            return counted

        setattr(Connection, name, wrap(method))


class ServerLog:
    """New lines of the PostgreSQL server's log for one database."""

    STATEMENT = re.compile(r"LOG:  (statement|execute [^:]*): ")

    def __init__(self, path: str | None, database: str) -> None:
        self.path = Path(path) if path else None
        self.tag = f"@{database} "
        self.offset = 0

    def mark(self) -> None:
        if self.path:
            self.offset = self.path.stat().st_size

    def count(self) -> int | None:
        if not self.path:
            return None
        time.sleep(0.3)  # the server writes its log line after the answer went out
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        return sum(
            1 for line in text.splitlines() if self.tag in line and self.STATEMENT.search(line)
        )


async def run(args) -> dict:
    from piccolo_conf import DB

    patch(type(DB))
    from app.asgi import create_app
    from app.core import db

    app = create_app(run_workers=False, manage_database=False)
    await db.start()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    log = ServerLog(args.pg_log, args.database or "")
    clients = json.loads(args.clients)
    out: dict = {"renders": args.renders, "pages": {}}

    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:

        async def request(cookies: Cookies, method: str, path: str, data=None):
            answer = await http.request(
                method, path, data=data, headers=headers_for(cookies, method)
            )
            http.cookies.clear()
            cookies.take(answer)
            return answer

        async def login(path: str, email: str, password: str) -> Cookies:
            cookies = Cookies()
            await request(cookies, "GET", path)
            answer = await request(cookies, "POST", path, {"email": email, "password": password})
            if answer.status_code != 303:
                raise SystemExit(f"login at {path} refused: {answer.status_code}")
            return cookies

        staff = await login("/admin/login", args.admin_email, args.admin_password)
        owner = await login("/login", args.owner_email, args.owner_password)

        async def counted(cookies: Cookies, path: str) -> dict:
            renders = []
            for _ in range(args.renders):
                log.mark()
                COUNTER.start()
                answer = await request(cookies, "GET", path)
                counts = COUNTER.stop()
                counts["server_log"] = log.count()
                counts["status"] = answer.status_code
                counts["bytes"] = len(answer.content)
                renders.append(counts)
            return {"renders": renders, "last_statements": COUNTER.texts}

        for size in SIZES:
            client_id = clients[f"Bench {size}"]
            out["pages"][f"users_tab_{size}"] = await counted(
                staff, f"/admin/clients/{client_id}/users"
            )
            answer = await request(owner, "POST", f"/accounts/{client_id}/select")
            if answer.status_code != 303:
                raise SystemExit(f"choosing account {client_id}: {answer.status_code}")
            out["pages"][f"account_users_{size}"] = await counted(owner, "/account/users")
    await db.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", required=True, help="JSON: account name -> id")
    p.add_argument("--admin-email", required=True)
    p.add_argument("--admin-password", required=True)
    p.add_argument("--owner-email", required=True)
    p.add_argument("--owner-password", required=True)
    p.add_argument("--renders", type=int, default=3)
    p.add_argument("--pg-log", default=None)
    p.add_argument("--database", default=None, help="the PostgreSQL database's name")
    args = p.parse_args()
    if not os.environ.get("ROSTER_DATABASE_URL"):
        raise SystemExit("ROSTER_DATABASE_URL must name the scratch database")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
