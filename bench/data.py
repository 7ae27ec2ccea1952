"""Benchmark data written straight into a migrated database.

`generate(url, users, seed)` inserts, after `roster migrate` and before anything else:

- `users` people with varied names and emails (a fixed seed: the same data every run), all with
  one password hash computed once, of user_password(seed) (bench/burst.py logs some of them in);
- the owner (OWNER_EMAIL, OWNER_PASSWORD) of every bench account: "Bench 1" (the owner alone),
  "Bench 25" (25 users and 5 pending invitations), "Bench 1000" (1,000 users), and
  `invite_accounts` empty accounts that receive the timed invitations;
- activity rows (one per 10 users, at most 100,000) spread over the accounts.

The users table's columns are read from the live database, so columns added by later migrations
are filled when the generator knows them (first_name_key / last_name_key: the names folded by
app.schema.users.name_key, else casefolded; email_domain_key: the email's domain) and
left to their defaults otherwise. Ids are given explicitly (after any rows already there) and the
PostgreSQL sequences moved past them. PostgreSQL: COPY (asyncpg copy_records_to_table); SQLite:
one transaction of executemany, the users indexes re-created after the insert. ANALYZE at the
end.

Run alone: `python -m bench.data URL --users N`."""

import argparse
import asyncio
import hashlib
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from app.core.permissions import ALL_KEYS
from app.core.security import hash_password

try:  # the search keys' own folding, where the app has it
    from app.schema.users import name_key
except ImportError:

    def name_key(name: str) -> str:
        return name.casefold()


OWNER_EMAIL = "owner@bench.test"
OWNER_PASSWORD = "bench-Owner-passphrase-2026"


def user_password(seed: int) -> str:
    """Every generated person's password."""
    return f"bench-User-passphrase-{seed}"


ACCOUNT_SIZES = {"Bench 1": 1, "Bench 25": 25, "Bench 1000": 1000}
PENDING_INVITES = 5  # on "Bench 25"
INVITE_ACCOUNT_PREFIX = "Bench Invite"
# The crowd's accounts (Plan's `crowd`): users each, owner included, and pending invitations.
CROWD_SIZES = (5, 45)
CROWD_PENDING = 3

_FIRST = (
    "John James Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel "
    "Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy "
    "Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin "
    "Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry "
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty "
    "Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie "
    "Dorothy Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela "
    "Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria Olivia Heather "
    "Joanna Josephine Jonas Jordan Joy Joel Jolene Jose Juan Luis Carlos Sofia Lucia Marco "
    "Giulia Luca Francesca Matteo Chiara Hans Anke Jurgen Sven Ingrid Pierre Amelie Louis Chloe "
    "Ahmed Fatima Omar Aisha Wei Li Ming Yuki Hiroshi Sakura Priya Arjun Ananya Rahul Olga Ivan "
    "Dmitri Natasha Fiona Siobhan Aoife Ciaran Zoe Zachary Yara Xavier Quentin Ursula Vera"
)
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Smithson "
    "Smythe Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Rossi Russo "
    "Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Dubois Durand Lefebvre Moreau "
    "Laurent Simon Michel Leroy Kowalski Nowak Wisniewski Novak Horvat Kovacs Nagy Jensen "
    "Nielsen Hansen Larsen Andersson Johansson Karlsson Nilsson Eriksson Virtanen Korhonen "
    "Murphy Kelly OBrien Walsh Byrne Ryan Tanaka Suzuki Takahashi Watanabe Wang Zhang Liu Chen "
    "Yang Huang Kim Park Choi Patel Sharma Singh Kumar Gupta Ivanov Petrov Sokolov Silva Santos "
    "Oliveira Pereira Costa Ferreira Alves Okafor Mensah Diallo Haddad Khalil Cohen Levi Abadi "
    "Ritterling Quinn Underwood Vasquez Xu Yilmaz Zimmermann"
)
_DOMAINS = (
    "example.com example.org example.net mail.test corp.test acme.test globex.test "
    "initech.test umbrella.test hooli.test"
)
FIRST, LAST, DOMAINS = _FIRST.split(), _LAST.split(), _DOMAINS.split()
ACTIONS = ("user.invited", "grant.permissions_changed", "user.logged_in", "invite.resent")


def _people(count: int, seed: int):
    """(first, last, email) for `count` users: names drawn with a skew (common names are common),
    emails in a few usual shapes, made unique with the row number."""
    rng = random.Random(seed)
    first_weights = [1 / (i + 1) ** 0.8 for i in range(len(FIRST))]
    last_weights = [1 / (i + 1) ** 0.8 for i in range(len(LAST))]
    firsts = rng.choices(FIRST, first_weights, k=count)
    lasts = rng.choices(LAST, last_weights, k=count)
    shapes = rng.choices(range(4), k=count)
    domains = rng.choices(DOMAINS, k=count)
    for i in range(count):
        first, last = firsts[i], lasts[i]
        f, la = first.lower(), last.lower()
        shape = shapes[i]
        if shape == 0:
            local = f"{f}.{la}{i}"
        elif shape == 1:
            local = f"{f[0]}{la}{i}"
        elif shape == 2:
            local = f"{f}{i}"
        else:
            local = f"{la}.{f}.{i}"
        yield first, last, f"{local}@{domains[i]}"


def _user_value(column: str, first: str, last: str, email: str, pw_hash: str, created):
    """The value of one users column, or None for a column left to its default."""
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "email_key": email.lower(),
        "password_hash": pw_hash,
        "language": "english",
        "created_at": created,
        "disabled": False,
        "totp_enabled": False,
        "first_name_key": name_key(first),
        "last_name_key": name_key(last),
        "email_domain_key": email.lower().rsplit("@", 1)[-1],
    }.get(column)


KNOWN_USER_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "email_key",
    "password_hash",
    "language",
    "created_at",
    "disabled",
    "totp_enabled",
    "first_name_key",
    "last_name_key",
    "email_domain_key",
)


class Plan:
    """Every row to insert, as plain tuples, built once for either engine."""

    def __init__(
        self,
        users: int,
        seed: int,
        invite_accounts: int,
        first_ids: dict,
        crowd: int = 0,
        staff: int = 0,
    ) -> None:
        rng = random.Random(seed + 1)
        self.seed = seed
        now = datetime.now(UTC)
        self.now = now
        self.user_hash = hash_password(user_password(seed))
        self.owner_hash = hash_password(OWNER_PASSWORD)
        uid0, cid0, gid0, iid0, aid0 = (
            first_ids[t] for t in ("users", "clients", "grants", "invitations", "activity_entries")
        )
        # users: the owner first, then `users` generated people
        self.owner_id = uid0
        self.people = [("Olive", "Owner", OWNER_EMAIL)]
        self.people.extend(_people(users, seed))
        self.user_ids = range(uid0, uid0 + len(self.people))
        total = len(self.people)
        self.created = [now - timedelta(minutes=total - i) for i in range(total)]
        # accounts
        names = list(ACCOUNT_SIZES) + [
            f"{INVITE_ACCOUNT_PREFIX} {n + 1}" for n in range(invite_accounts)
        ]
        self.clients = []  # (id, company, first, last, email, status, owner, created_at)
        self.client_ids: dict[str, int] = {}
        for n, name in enumerate(names):
            cid = cid0 + n
            self.client_ids[name] = cid
            self.clients.append((cid, name, "Olive", "Owner", OWNER_EMAIL, "Active", uid0, now))
        # grants: the owner on every account; members taken from the generated users, disjoint
        all_perms = ",".join(ALL_KEYS)
        self.grants = []  # (id, user, client, permissions, created_at, updated_at)
        gid = gid0
        for name in names:
            self.grants.append((gid, uid0, self.client_ids[name], all_perms, now, now))
            gid += 1
        next_member = uid0 + 1
        for name, size in ACCOUNT_SIZES.items():
            for _ in range(size - 1):
                keys = rng.sample(ALL_KEYS, rng.randint(1, len(ALL_KEYS)))
                perms = ",".join(k for k in ALL_KEYS if k in keys)
                self.grants.append((gid, next_member, self.client_ids[name], perms, now, now))
                gid += 1
                next_member += 1
        if next_member > self.user_ids[-1] + 1:
            raise SystemExit(f"--users must be at least {sum(ACCOUNT_SIZES.values())}")
        # the crowd: `crowd` accounts of CROWD_SIZES users, each owned by a generated person
        # (who logs in with user_password(seed)); their people drawn from the users left after
        # the bench accounts, so one person is on several of them, as in a real portal
        pool = range(next_member, self.user_ids[-1] + 1)
        if crowd and len(pool) < CROWD_SIZES[1] + 1:
            raise SystemExit(f"--users must leave at least {CROWD_SIZES[1] + 1} for the crowd")
        self.crowd = []  # (client id, owner email, owner's session cookie, member ids)
        # (id, id_hash, user, admin, client, created_at, last_seen_at, expires_at)
        self.sessions = []
        crowd_invites = []  # (client id, n)
        for n in range(crowd):
            cid = cid0 + len(self.clients)
            members = rng.sample(pool, rng.randint(*CROWD_SIZES))
            owner = members.pop()
            first, last, email = self.people[owner - uid0]
            self.clients.append(
                (cid, f"Crowd {n + 1} {last}", first, last, email, "Active", owner, now)
            )
            # The owner signed in with the account selected, as if they had logged in: a session
            # row with the SHA-256 of its cookie (app.core.security.token_hash), for the
            # owners' pages without a login (an argon2 hash) each.
            cookie = hashlib.sha256(f"bench-{seed}-session-{cid}".encode()).hexdigest()
            session_hash = hashlib.sha256(cookie.encode()).hexdigest()
            self.sessions.append(self._session(first_ids, session_hash, owner, None, cid))
            self.crowd.append((cid, email, cookie, members))
            self.grants.append((gid, owner, cid, all_perms, now, now))
            gid += 1
            for member in members:
                keys = rng.sample(ALL_KEYS, rng.randint(1, len(ALL_KEYS)))
                perms = ",".join(k for k in ALL_KEYS if k in keys)
                self.grants.append((gid, member, cid, perms, now, now))
                gid += 1
            crowd_invites += [(cid, i) for i in range(rng.randint(0, CROWD_PENDING))]
        # pending invitations on Bench 25, sent a few hours ago, open for a week
        self.invitations = []
        for n in range(PENDING_INVITES):
            email = f"pending{n + 1}@invitee.test"
            sent = now - timedelta(hours=n + 1)
            self.invitations.append(
                (
                    iid0 + n,
                    self.client_ids["Bench 25"],
                    email,
                    email,
                    ",".join(ALL_KEYS[: n + 2]),
                    hashlib.sha256(f"bench-{seed}-{n}".encode()).hexdigest(),
                    uid0,
                    "Olive Owner",
                    sent,
                    sent,
                    1,
                    sent + timedelta(days=7),
                )
            )
        # staff members, signed in the same way (the mix's staff: bench/mix.py)
        self.staff = []  # (admin id, email, session cookie)
        self.admins = []  # ADMIN_COLS
        for n in range(staff):
            aid = first_ids["admins"] + n
            email = f"staff{n + 1}@bench.test"
            self.admins.append((aid, f"Staff {n + 1}", email, email, self.user_hash, "full", now))
            cookie = hashlib.sha256(f"bench-{seed}-staff-session-{aid}".encode()).hexdigest()
            session_hash = hashlib.sha256(cookie.encode()).hexdigest()
            self.sessions.append(self._session(first_ids, session_hash, None, aid, None))
            self.staff.append((aid, email, cookie))
        for cid, i in crowd_invites:
            email = f"pending{i + 1}.{cid}@invitee.test"
            sent = now - timedelta(hours=i + 1)
            token = hashlib.sha256(f"bench-{seed}-{cid}-{i}".encode()).hexdigest()
            row = (iid0 + len(self.invitations), cid, email, email, ",".join(ALL_KEYS[: i + 2]),
                   token, self.clients[cid - cid0][6], "Crowd Owner", sent, sent, 1,
                   sent + timedelta(days=7))  # fmt: skip
            self.invitations.append(row)
        # activity
        count = min(100_000, max(100, users // 10))
        account_ids = list(self.client_ids.values())
        self.activity = []
        for n in range(count):
            action = ACTIONS[n % len(ACTIONS)]
            user_id = rng.choice(self.user_ids)
            self.activity.append(
                (
                    aid0 + n,
                    now - timedelta(seconds=count - n),
                    "user",
                    uid0,
                    "Olive Owner",
                    rng.choice(account_ids),
                    user_id,
                    action,
                    f"{action} for user {user_id}",
                    "127.0.0.1",
                )
            )

    def _session(self, first_ids: dict, id_hash: str, user, admin, client) -> tuple:
        sid = first_ids["sessions"] + len(self.sessions)
        return (sid, id_hash, user, admin, client, self.now, self.now, self.now + timedelta(days=1))

    def user_rows(self, columns: list[str]):
        for i, (first, last, email) in enumerate(self.people):
            pw_hash = self.owner_hash if i == 0 else self.user_hash
            yield (
                self.user_ids[i],
                *(_user_value(c, first, last, email, pw_hash, self.created[i]) for c in columns),
            )


CLIENT_COLS = ("id", "company_name", "first_name", "last_name", "email", "status", "owner",
               "created_at")  # fmt: skip
GRANT_COLS = ("id", "user", "client", "permissions", "created_at", "updated_at")
INVITE_COLS = ("id", "client", "email", "email_key", "permissions", "token_hash",
               "invited_by_user", "sender_name", "created_at", "last_sent_at", "times_sent",
               "expires_at")  # fmt: skip
ACTIVITY_COLS = ("id", "created_at", "actor_type", "actor_id", "actor_name", "client_id",
                 "user_id", "action", "description", "ip")  # fmt: skip
SESSION_COLS = ("id", "id_hash", "user", "admin", "client", "created_at", "last_seen_at",
                "expires_at")  # fmt: skip
ADMIN_COLS = ("id", "name", "email", "email_key", "password_hash", "role", "created_at")
TABLES = ("users", "clients", "grants", "invitations", "activity_entries", "sessions", "admins")


def _sqlite_time(value):
    """Timestamps the way Piccolo stores them on SQLite: '2026-11-29 22:18:35.870929+00:00'."""
    return str(value) if isinstance(value, datetime) else value


def _sqlite(path: str, users: int, seed: int, invite_accounts: int, crowd: int, staff: int) -> dict:
    con = sqlite3.connect(path)
    try:
        first_ids = {
            t: (con.execute(f'SELECT max(id) FROM "{t}"').fetchone()[0] or 0) + 1 for t in TABLES
        }
        live = [r[1] for r in con.execute('PRAGMA table_info("users")')]
        columns = [c for c in live if c in KNOWN_USER_COLUMNS]
        plan = Plan(users, seed, invite_accounts, first_ids, crowd, staff)

        def insert(table, cols, rows):
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join("?" for _ in cols)
            con.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                (tuple(_sqlite_time(v) for v in row) for row in rows),
            )

        # A bulk load: a 512 MB page cache, no fsync, the rollback journal in memory (the app's
        # WAL mode is set back at the end), and the users table's own indexes dropped
        # during the insert and re-created afterwards from their DDL (a sorted build, far
        # faster than a million random inserts into each b-tree).
        con.execute("PRAGMA cache_size=-524288")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA journal_mode=MEMORY")  # a scratch database; WAL again below
        indexes = [
            (name, ddl)
            for name, ddl in con.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'users' AND sql IS NOT NULL"
            )
        ]
        with con:
            for name, _ in indexes:
                con.execute(f'DROP INDEX "{name}"')
            insert("users", ["id", *columns], plan.user_rows(columns))
            for _, ddl in indexes:
                con.execute(ddl)
            insert("clients", CLIENT_COLS, plan.clients)
            insert("grants", GRANT_COLS, plan.grants)
            insert("invitations", INVITE_COLS, plan.invitations)
            insert("activity_entries", ACTIVITY_COLS, plan.activity)
            insert("admins", ADMIN_COLS, plan.admins)
            insert("sessions", SESSION_COLS, plan.sessions)
        con.execute("ANALYZE")
        con.commit()
        con.execute("PRAGMA journal_mode=WAL")
        return _summary(plan, columns)
    finally:
        con.close()


async def _postgres(
    url: str, users: int, seed: int, invite_accounts: int, crowd: int, staff: int
) -> dict:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        first_ids = {
            t: (await con.fetchval(f'SELECT coalesce(max(id), 0) FROM "{t}"')) + 1 for t in TABLES
        }
        live = [
            r["column_name"]
            for r in await con.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'users'"
            )
        ]
        columns = [c for c in KNOWN_USER_COLUMNS if c in live]
        plan = Plan(users, seed, invite_accounts, first_ids, crowd, staff)
        async with con.transaction():
            await con.copy_records_to_table(
                "users", records=plan.user_rows(columns), columns=["id", *columns]
            )
            await con.copy_records_to_table("clients", records=plan.clients, columns=CLIENT_COLS)
            await con.copy_records_to_table("grants", records=plan.grants, columns=GRANT_COLS)
            await con.copy_records_to_table(
                "invitations", records=plan.invitations, columns=INVITE_COLS
            )
            await con.copy_records_to_table(
                "activity_entries", records=plan.activity, columns=ACTIVITY_COLS
            )
            await con.copy_records_to_table("admins", records=plan.admins, columns=ADMIN_COLS)
            await con.copy_records_to_table("sessions", records=plan.sessions, columns=SESSION_COLS)
            for table in TABLES:
                await con.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f'(SELECT max(id) FROM "{table}"))'
                )
        # VACUUM too: index-only scans (the search's covering indexes) need the visibility map,
        # which a bulk load leaves empty until autovacuum comes by.
        await con.execute("VACUUM ANALYZE")
        return _summary(plan, columns)
    finally:
        await con.close()


def _summary(plan: Plan, columns: list[str]) -> dict:
    return {
        "users": len(plan.people),
        "users_columns_filled": columns,
        "owner_id": plan.owner_id,
        "owner_email": OWNER_EMAIL,
        "clients": plan.client_ids,
        "grants": len(plan.grants),
        "invitations": len(plan.invitations),
        "activity": len(plan.activity),
        # members of Bench 1000 and an exact email for the type-ahead
        "sample_email": plan.people[len(plan.people) // 2][2],
        "sample_user_id": plan.user_ids[len(plan.people) // 2],
        # people who log in (bench/burst.py), with user_password(seed)
        "login_emails": [email for _, _, email in plan.people[1:201]],
        # the crowd's accounts: [client id, owner email, the owner's roster_session cookie,
        # the ids of its other users]; staff: [admin id, email, roster_session cookie]
        "crowd": plan.crowd,
        "staff": plan.staff,
        "seed": plan.seed,
    }


def generate(
    url: str, users: int, seed: int = 13, invite_accounts: int = 1, crowd: int = 0, staff: int = 0
) -> dict:
    """Fills the database at `url` (sqlite:///path or postgresql://…); a summary with the ids."""
    started = time.monotonic()
    if urlsplit(url).scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        summary = _sqlite(path, users, seed, invite_accounts, crowd, staff)
    else:
        summary = asyncio.run(_postgres(url, users, seed, invite_accounts, crowd, staff))
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--invite-accounts", type=int, default=1)
    p.add_argument("--crowd", type=int, default=0, help="accounts of 5 to 45 users each")
    p.add_argument("--staff", type=int, default=0, help="staff members, signed in")
    args = p.parse_args()
    summary = generate(
        args.url, args.users, args.seed, args.invite_accounts, args.crowd, args.staff
    )
    print({k: v for k, v in summary.items() if k not in ("login_emails", "crowd", "staff")})


if __name__ == "__main__":
    main()
