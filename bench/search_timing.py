"""User search at scale: fills a scratch database with N users (default 1,000,000)
after `roster migrate`, then times Associate User's type-ahead and Manage Users' search, the
service functions the endpoints call, for typical inputs: p50/p95 over --runs runs each. With
--old, the substring search they replaced (ILIKE '%word%' and an exact COUNT(*), offset paging)
is timed too, as raw SQL on the same data.

    python -m bench.search_timing --engine sqlite [--users 1000000] [--runs 50] [--old]
    python -m bench.search_timing --engine postgres --admin-url postgresql://postgres@127.0.0.1/test

The names: --data bench (default) draws them as the benchmark suite's bench/data.py does (a few
very common names: "John" and "Smith" about one user in ten each), --data faker from Faker's
pools (many rarer names). PostgreSQL's table is VACUUM ANALYZEd after the load, SQLite's ANALYZEd.

Before/after comparisons on the same data: --previous-indexes puts back the indexes as they were
before roster_2026_12_02 (its `backwards`), --search-module PATH times another version of
app/domain/users/search.py (e.g. `git show REV:app/domain/users/search.py > /tmp/search_rev.py`),
and --name and --reuse keep several scratch databases side by side, measured in turn.

SQLite: a file under /tmp, removed at the end (--keep keeps it). PostgreSQL: a scratch database
roster_search_bench (or --name), dropped at the end (--keep keeps it)."""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

INPUTS = ["a", "jo", "john s", "smi", "maria gar", "john smi", "zzq", "@exam", "#500000", "EMAIL"]
DOMAINS = (
    ["gmail.com"] * 6
    + ["example.com"] * 3
    + [
        "outlook.com",
        "yahoo.fr",
        "web.de",
        "acme-hosting.net",
        "bianchi.it",
        "post.example.org",
        "mail.ru",
    ]
)
BATCH = 20_000


def pools(seed: int = 7) -> tuple[list[str], list[str]]:
    """First and last names from several locales (accents included)."""
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL"])
    fake.seed_instance(seed)
    firsts = sorted({fake.first_name() for _ in range(20_000)})
    lasts = sorted({fake.last_name() for _ in range(40_000)})
    return firsts, lasts


def ascii_of(name: str) -> str:
    from app.schema.users import name_key

    return "".join(c for c in name_key(name) if c.isalnum() and c.isascii()) or "x"


def faker_people(n: int, seed: int = 11):
    """(first, last, email) from Faker's pools, skewed."""
    rng = random.Random(seed)
    firsts, lasts = pools()
    # A few names are common, most rare: a skewed pick, as in real lists.
    first_w = [1 / (i + 1) ** 0.8 for i in range(len(firsts))]
    last_w = [1 / (i + 1) ** 0.8 for i in range(len(lasts))]
    rng.shuffle(first_w)
    rng.shuffle(last_w)
    chosen_f = rng.choices(firsts, first_w, k=n)
    chosen_l = rng.choices(lasts, last_w, k=n)
    for i in range(n):
        first, last = chosen_f[i], chosen_l[i]
        yield first, last, f"{ascii_of(first)}.{ascii_of(last)}{i}@{rng.choice(DOMAINS)}"


def users(n: int, data: str = "bench"):
    """Rows (first, last, email, email_key, first_key, last_key, domain_key), in batches."""
    from app.schema.users import user_keys

    if data == "bench":
        from bench.data import _people

        people = _people(n, 11)
    else:
        people = faker_people(n)
    batch = []
    for first, last, email in people:
        email = email.lower()
        keys = user_keys(first, last, email)
        batch.append(
            (
                first,
                last,
                email,
                email,
                keys["first_name_key"],
                keys["last_name_key"],
                keys["email_domain_key"],
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "email_key",
    "first_name_key",
    "last_name_key",
    "email_domain_key",
)


def fill_sqlite(path: str, n: int, data: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = (
        f"INSERT INTO users ({', '.join(COLUMNS)}, password_hash, created_at)"
        f" VALUES ({', '.join('?' * len(COLUMNS))}, 'x', '2026-01-01 00:00:00+00:00')"
    )
    for batch in users(n, data):
        conn.executemany(sql, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


async def fill_postgres(url: str, n: int, data: str) -> None:
    import datetime

    import asyncpg

    conn = await asyncpg.connect(url)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for batch in users(n, data):
        await conn.copy_records_to_table(
            "users",
            records=[(*row, "x", now) for row in batch],
            columns=[*COLUMNS, "password_hash", "created_at"],
        )
    await conn.execute("VACUUM ANALYZE users")
    await conn.close()


def migrate(url: str) -> None:
    env = {**os.environ, "ROSTER_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )


def old_queries(text: str):
    """The search as it was: substring ILIKE per word on the names and the email; Manage Users
    with its exact count and an offset page; Associate User ordered by name, 8 rows."""
    from app.core.validation import clean_search, parse_id
    from app.domain.users.services import matching_every_word
    from app.schema.users import User

    text = clean_search(text)
    user_id = parse_id(text.lstrip("#"))
    conditions = [User.id == user_id] if user_id is not None else matching_every_word(text)
    select = User.select(User.id, User.first_name, User.last_name, User.email)
    count = User.count()
    for condition in conditions:
        select, count = select.where(condition), count.where(condition)
    assoc = User.select(User.id, User.first_name, User.last_name, User.email)
    for condition in matching_every_word(text):
        assoc = assoc.where(condition)
    return (
        [count, select.order_by(User.id).limit(25).offset(0)],
        [assoc.order_by(User.first_name).order_by(User.last_name).limit(8)],
    )


async def timed(fn, runs: int) -> tuple[float, float]:
    await fn()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def use_search_module(path: str) -> None:
    """Makes `path` the app's app.domain.users.search (before anything imports it)."""
    import importlib.util

    import app.domain.users

    spec = importlib.util.spec_from_file_location("app.domain.users.search", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app.domain.users.search"] = module
    spec.loader.exec_module(module)
    app.domain.users.search = module


async def previous_indexes() -> None:
    """The indexes as they were before roster_2026_12_02 (that migration's backwards)."""
    from app.schema.migrations import roster_2026_12_02t12_00_00_000000 as covering

    manager = await covering.forwards()
    for raw in manager.raw_backwards:
        await raw()


async def measure(runs: int, old: bool) -> None:
    from app.core import db
    from app.domain.users import search
    from app.domain.users.services import search_users
    from app.schema.users import User

    await db.start()
    try:
        some = await User.select(User.email).where(User.id == 424242).first()
        print(f"{'input':<16} {'what':<26} {'p50 ms':>8} {'p95 ms':>8}  rows")
        for text in INPUTS:
            if text == "EMAIL":
                text = some["email"] if some else "nobody@example.com"

            async def assoc(text=text):
                return await search.candidates(text, 8)

            async def manage(text=text):
                return await search_users(text, per_page=25)

            async def manage_next(text=text):
                rows, more = await search_users(text, per_page=25)
                if more:
                    await search_users(text, after=rows[-1]["id"], per_page=25)

            cases = [("associate (new)", assoc), ("manage users (new)", manage)]
            if old:
                manage_q, assoc_q = old_queries(text)

                async def old_manage(manage_q=manage_q):
                    for q in manage_q:
                        await q

                async def old_assoc(assoc_q=assoc_q, text=text):
                    if len(text.replace(" ", "")) >= 2:
                        await assoc_q[0]

                cases += [("associate (old)", old_assoc), ("manage users (old)", old_manage)]
            for label, fn in cases:
                p50, p95 = await timed(fn, runs if "old" not in label else max(runs // 5, 10))
                result = await fn()
                rows = result[0] if isinstance(result, tuple) else result
                shown = len(rows) if isinstance(rows, list) else ""
                print(f"{text:<16} {label:<26} {p50:8.1f} {p95:8.1f}  {shown}")
    finally:
        await db.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--old", action="store_true", help="time the old substring search too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="use a kept scratch database")
    parser.add_argument("--name", default="roster_search_bench", help="scratch database name")
    parser.add_argument("--data", choices=["bench", "faker"], default="bench")
    parser.add_argument(
        "--previous-indexes",
        action="store_true",
        help="after the load, the indexes as before roster_2026_12_02",
    )
    parser.add_argument("--search-module", help="time this file as app/domain/users/search.py")
    args = parser.parse_args()

    if args.engine == "sqlite":
        path = str(Path(tempfile.gettempdir()) / f"{args.name}.sqlite3")
        url = f"sqlite:///{path}"
    else:
        url = urlunsplit(urlsplit(args.admin_url)._replace(path=f"/{args.name}"))
    os.environ["ROSTER_DATABASE_URL"] = url
    os.environ.setdefault("ROSTER_SECRET_KEY", "bench")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.search_module:
        use_search_module(args.search_module)

    async def admin(statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(args.admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    fresh = not args.reuse
    try:
        if fresh:
            start = time.perf_counter()
            if args.engine == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
                migrate(url)
                fill_sqlite(path, args.users, args.data)
            else:
                asyncio.run(admin(f"DROP DATABASE IF EXISTS {args.name} WITH (FORCE)"))
                asyncio.run(admin(f"CREATE DATABASE {args.name}"))
                migrate(url)
                asyncio.run(fill_postgres(url, args.users, args.data))
            if args.previous_indexes:
                asyncio.run(previous_indexes())
            print(
                f"{args.users} users ({args.data}) in {time.perf_counter() - start:.0f} s"
                f" ({args.engine}{', previous indexes' if args.previous_indexes else ''})"
            )
        asyncio.run(measure(args.runs, args.old))
    finally:
        if not args.keep:
            if args.engine == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
            else:
                asyncio.run(admin(f"DROP DATABASE IF EXISTS {args.name} WITH (FORCE)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
