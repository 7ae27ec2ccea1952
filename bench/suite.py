"""The benchmark suite: every figure with its target and verdict, on SQLite and (when a
server is given) PostgreSQL.

    .venv/bin/python -m bench.suite [--quick] [--users N] [--postgres URL] [--engines ...]
                                    [--out bench/results/latest.json]

`make bench` runs it at 1,000,000 users, `make bench-quick` at 50,000 with shorter runs. Per
engine: a scratch database (a file in a temporary directory; on PostgreSQL a database created on
--postgres's server, else ROSTER_TEST_POSTGRES_URL's, and dropped at the end), `roster migrate`,
bench/data.py's rows, `roster create-admin`; then the figures, each bounded in time:

1. throughput: the Users tab of "Bench 25" (25 users, 5 pending invites) as a logged-in full
   admin, at --connections connections (wrk, else bench/load.py's client), against bench/bare.py
   (a plain Litestar handler answering the same bytes, captured from the app once, under the
   same uvicorn settings); app and bare runs interleaved (the order alternating), --reps each;
   median and spread of requests/s, p95, and CPU seconds per request of the server process
   (/proc/PID/stat utime+stime before and after each run); ratio of the medians app/bare;
2. SQL statements per render: bench/statements.py (the app in-process; counted by the SQLite
   library's trace callback, asyncpg's round trips and, when readable, the PostgreSQL server's
   own log with log_statement=all set on the scratch database for that step only);
3. bytes of the Users tab and of /account/users (the owner) for "Bench 1000";
4. type-ahead at N users: Associate User's /admin/clients/{id}/user-search?q= and Manage Users'
   /admin/users?q= (as htmx asks for them), typical inputs in turn, one request at a time;
5. Send Invite: the owner's POST /account/users/invite to the email arriving at a local SMTP
   sink (soak.servers.MailSink), one at a time, a random pause of up to 0.5 s between;
6. first load of the Users tab: the page and the stylesheets and scripts it links, fetched with
   Accept-Encoding: br, gzip, bytes as sent (body + headers), no cache;
7. RSS of a fresh server (/proc/PID/status VmRSS) at the start, middle and end of the mixed
   requests (10,000; quick: 2,000) by 8 concurrent clients: the pages staff and owners open
   ("Bench 25"'s Users tab, /account/users, the clients list, a user's page, login, static
   files, searches); not "Bench 1000"'s pages, whose 2 MB renders figure 3 is about.

10. webhooks (bench/webhooks.py, also runnable alone): 1,000 changes to a receiver (each received
    once; the time from a change's answer to its receipt) and the Users tab's requests/s with and
    without an endpoint that never answers while changes flow.
11. bulk invite (bench/bulk_invite.py, also runnable alone): Preview of a 500-row pasted list and
    Send Invites of it, on a new account each run. Target: preview ≤ 1 s, send ≤ 5 s.
12. login burst (bench/burst.py, also runnable alone): page views of the Users tab, due at a
    steady rate, while 20 people log in at once; with the hashing pool and with as many threads
    as Python's default pool.
13. fresh pages (bench/fresh.py, also runnable alone): the staff Users tab and the owner's User
    Management of bench/data.py's crowd (`crowd` accounts of 5 to 45 users, each owner signed
    in), every request the next account of a shuffled list, so that nothing kept answers
    (the server's roster_kept_lookups_total says so), against the bare stack.
14. a realistic mix (bench/mix.py, also runnable alone): Users tabs, User Management, searches,
    permission changes, invitations and logins over the crowd, 50 staff and 500 owners, offered
    at a constant rate: the highest rate at p95 ≤ 50 ms (one worker; on PostgreSQL also two) and
    the latency at 150 requests/s.

On PostgreSQL only (bench/scale.py, also runnable alone), with the same data:

8. live-update latency: 500 Server-Sent Event streams open on one `roster serve` process (A),
   20 of them on "Bench 25"'s Users tab; changes to that account made through another process
   (B), one at a time: the time to each watcher's `roster:changed` event and to the re-fetched
   fragments (the update visible in a second browser); no other account's stream may be told;
9. workers: figure 1's request against `roster serve --workers 1` and `--workers 2`, runs
   interleaved; ratio of the median requests/s, with the CPU of the server, the load generator,
   PostgreSQL and the machine for each run.

Servers run `roster serve` with ROSTER_ENV=production (templates not re-checked on disk) and
ROSTER_SMTP_URL pointing at the sink. JSON goes to --out; a table is printed."""

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from bench import bulk_invite, burst, data, fresh, load, mix, webhooks
from bench.sessions import Session, owner_login, select, staff_login
from soak.servers import ROSTER, MailSink, Server, answering, free_port

REPO = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "admin@bench.test"
ADMIN_PASSWORD = "bench-Admin-passphrase-2026"
KIB = 1024
MIB = 1024 * 1024
HTMX = {"hx-request": "true"}

TARGETS = {
    "throughput": "≥ 0.5× bare",
    "statements": "≤ 3, constant",
    "big_account": "≤ 100 KB",
    "search_postgres": "p95 ≤ 20 ms",
    "search_sqlite": "p95 ≤ 50 ms",
    "invite_mail": "p95 ≤ 1 s (ideally ≤ 100 ms)",
    "first_load": "≤ 60 KB",
    "rss": "≤ 150 MB, flat",
}

PROFILES = {
    "full": {
        "users": 1_000_000,
        "reps": 3,
        "seconds": 10,
        "warmup": 3,
        "search_samples": 100,
        "search_cap": 300,
        "invites": 40,
        "mixed": 10_000,
        "mixed_cap": 900,
    },
    "quick": {
        "users": 50_000,
        "reps": 3,
        "seconds": 4,
        "warmup": 2,
        "search_samples": 50,
        "search_cap": 120,
        "invites": 30,
        "mixed": 2_000,
        "mixed_cap": 240,
    },
}


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values, p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def spread(values) -> dict:
    values = list(values)
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command: state is fields[0], utime and stime are the 14th and 15th of stat
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------------------
# Scratch databases


@contextlib.contextmanager
def scratch_database(engine: str, server_url: str | None, workdir: Path):
    """The URL of an empty database for this run; dropped (or deleted) afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{workdir}/bench.sqlite3", None
        return
    import asyncpg

    name = f"roster_bench_{os.getpid()}_{secrets.token_hex(3)}"
    parts = urlsplit(server_url)

    async def admin(sql: str):
        con = await asyncpg.connect(server_url)
        try:
            return await con.execute(sql)
        finally:
            await con.close()

    import asyncio

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}")), name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_log_file(url: str) -> str | None:
    """The PostgreSQL server's log file, when this process can read it (a local server)."""
    import asyncio

    import asyncpg

    async def ask():
        con = await asyncpg.connect(url)
        try:
            current = await con.fetchval("SELECT pg_current_logfile()")
            data_dir = await con.fetchval("SHOW data_directory")
            major = (await con.fetchval("SHOW server_version")).split(".")[0]
            return current, data_dir, major
        finally:
            await con.close()

    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        current, data_dir, major = asyncio.run(ask())
    except Exception:
        return None
    candidates = []
    if current:
        candidates.append(Path(current) if current.startswith("/") else Path(data_dir) / current)
    candidates.append(Path(f"/var/log/postgresql/postgresql-{major}-main.log"))
    for path in candidates:
        if path.is_file() and os.access(path, os.R_OK):
            return str(path)
    return None


def postgres_sql(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def run():
        con = await asyncpg.connect(url)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# The figures


def fig_statements(env: dict, summary: dict, db_name: str | None, pg_url: str | None) -> dict:
    log_file = None
    if pg_url:
        log_file = postgres_log_file(pg_url)
        if log_file:
            postgres_sql(pg_url, f"ALTER DATABASE \"{db_name}\" SET log_statement = 'all'")
    try:
        command = [
            sys.executable,
            "-m",
            "bench.statements",
            "--clients",
            json.dumps(summary["clients"]),
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
            "--owner-email",
            data.OWNER_EMAIL,
            "--owner-password",
            data.OWNER_PASSWORD,
        ]
        if log_file:
            command += ["--pg-log", log_file, "--database", db_name]
        answer = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
    finally:
        if log_file:
            postgres_sql(pg_url, f'ALTER DATABASE "{db_name}" RESET log_statement')
    if answer.returncode != 0:
        raise RuntimeError(answer.stderr[-3000:])
    raw = json.loads(answer.stdout.splitlines()[-1])
    if pg_url:
        source = "server_log" if log_file else "wire"
        # the log was readable but held none of our lines: do not trust it
        if log_file and all(p["renders"][-1]["server_log"] == 0 for p in raw["pages"].values()):
            source = "wire"
    else:
        source = "sqlite"
    counts = {}
    for page, result in raw["pages"].items():
        last = result["renders"][-1]
        counts[page] = {
            "statements": last[source],
            "piccolo_queries": last["piccolo"],
            "wire_round_trips": last["wire"] if pg_url else None,
            "server_log": last["server_log"] if pg_url else None,
            "sqlite_statements": last["sqlite"] if not pg_url else None,
            "sqlite_connections": last["sqlite_connections"] if not pg_url else None,
            "status": last["status"],
            "bytes": last["bytes"],
            "all_renders": [r[source] for r in result["renders"]],
        }
    worst = max(c["statements"] for c in counts.values())
    constant = all(
        counts[f"{page}_1"]["statements"] == counts[f"{page}_1000"]["statements"]
        for page in ("users_tab", "account_users")
    )
    return {
        "source": source,
        "pages": counts,
        "max": worst,
        "constant_1_vs_1000": constant,
        "met": worst <= 3 and constant,
    }


def page_bytes(session: Session, path: str) -> dict:
    out = {}
    for encoding in ("identity", "br"):
        with session.http.stream(
            "GET",
            path,
            headers={"cookie": session.cookies.header(), "accept-encoding": encoding},
        ) as answer:
            raw = b"".join(answer.iter_raw())
            out["status"] = answer.status_code
            out[f"{encoding}_bytes"] = len(raw)
            if encoding == "br":
                out["br_encoding_used"] = answer.headers.get("content-encoding", "identity")
    return out


def fig_big_account(staff: Session, owner: Session, clients: dict) -> dict:
    big = clients["Bench 1000"]
    tab = page_bytes(staff, f"/admin/clients/{big}/users")
    select(owner, big)
    account = page_bytes(owner, "/account/users")
    worst = max(tab["identity_bytes"], account["identity_bytes"])
    return {
        "users_tab": tab,
        "account_users": account,
        "max_kib": round(worst / KIB, 1),
        "met": worst <= 100 * KIB,
    }


ASSET = re.compile(r"""<link[^>]+rel=["']?stylesheet[^>]*>|<script[^>]+src=[^>]*>""", re.IGNORECASE)
ATTR = re.compile(r"""(?:href|src)=["']?([^"' >]+)""", re.IGNORECASE)


def fig_first_load(base_url: str, cookie_header: str, path: str) -> dict:
    """The page and every stylesheet and script it links, as a browser with an empty cache
    would fetch them (Accept-Encoding: br, gzip), bytes as received (body + headers)."""
    resources = []
    with httpx.Client(base_url=base_url, timeout=30) as http:

        def fetch(url: str, kind: str, cookie: str | None) -> None:
            headers = {"accept-encoding": "br, gzip"}
            if cookie:
                headers["cookie"] = cookie
            with http.stream("GET", url, headers=headers) as answer:
                raw = b"".join(answer.iter_raw())
                head = sum(len(k) + len(v) + 4 for k, v in answer.headers.raw) + 17
                resources.append(
                    {
                        "url": str(url),
                        "kind": kind,
                        "status": answer.status_code,
                        "body_bytes": len(raw),
                        "header_bytes": head,
                        "encoding": answer.headers.get("content-encoding", "identity"),
                    }
                )
                http.cookies.clear()

        fetch(path, "html", cookie_header)
        html = http.get(path, headers={"cookie": cookie_header}).text
        http.cookies.clear()
        for tag in ASSET.findall(html):
            match = ATTR.search(tag)
            if match:
                kind = "css" if tag.lower().startswith("<link") else "js"
                fetch(match.group(1).replace("&amp;", "&"), kind, cookie_header)
    total = sum(r["body_bytes"] + r["header_bytes"] for r in resources)
    by_kind = {}
    for r in resources:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + r["body_bytes"] + r["header_bytes"]
    return {
        "resources": resources,
        "by_kind_kib": {k: round(v / KIB, 1) for k, v in by_kind.items()},
        "total_kib": round(total / KIB, 1),
        "met": total <= 60 * KIB,
    }


def start_profile(pid: int, directory: Path, seconds: float, *, gil: bool) -> subprocess.Popen:
    """py-spy recording `pid` for the run's length (collapsed stacks: one line per stack with its
    sample count), started beside the load; bench/profile_top.py summarises the file."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"profile-{pid}-{time.strftime('%H%M%S')}.txt"
    spy = Path(sys.executable).parent / "py-spy"
    say(f"  py-spy -> {out}")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            *(["--gil"] if gil else []),
            "--output",
            str(out),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def bare_server(body: bytes, workdir: Path, name: str = "bare"):
    """bench/bare.py answering `body` to every request, under the app's uvicorn settings, while
    the block runs: its (pid, base URL)."""
    body_file = workdir / f"{name}.html"
    body_file.write_bytes(body)
    port = free_port()
    log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 (open while the process runs)
    bare = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", "--port", str(port), "--body", str(body_file)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not answering(f"http://127.0.0.1:{port}", bare, time.monotonic() + 60):
            raise RuntimeError("the bare app did not start")
        yield bare.pid, f"http://127.0.0.1:{port}"
    finally:
        bare.terminate()
        try:
            bare.wait(10)
        except subprocess.TimeoutExpired:
            bare.kill()
        log.close()


def timed_run(pid: int, url: str, cfg: dict, seconds: float, *, profile: bool, label: str, **kw):
    """One load run on `url` (bench/load.py's `run`, with `kw`), with the CPU the process `pid`
    spent a request, said as it ends; py-spy records it when `profile` and --profile ask."""
    spy = None
    if profile and cfg.get("profile_dir"):
        spy = start_profile(pid, Path(cfg["profile_dir"]), seconds, gil=cfg.get("profile_gil"))
    before = cpu_seconds(pid)
    result = load.run(url, connections=cfg["connections"], seconds=seconds, **kw)
    used = cpu_seconds(pid) - before
    if spy is not None:
        spy.wait(60)
    result["cpu_ms_per_request"] = (
        round(used / result["requests"] * 1000, 3) if result["requests"] else None
    )
    say(
        f"  {label}: {result['rps']} rps, p95 {result['p95_ms']} ms, "
        f"cpu {result['cpu_ms_per_request']} ms/req, errors {result['errors']}"
    )
    return result


def against_bare(runs: dict) -> dict:
    """The app's and the bare stack's runs ({"app": [...], "bare": [...]}, interleaved): each
    one's medians and spread, and the ratio of the median requests/s."""
    out: dict = {"runs": runs}
    for name in ("app", "bare"):
        out[name] = {
            "rps": spread(r["rps"] for r in runs[name]),
            "p95_ms": spread(r["p95_ms"] for r in runs[name]),
            "cpu_ms_per_request": spread(r["cpu_ms_per_request"] or 0 for r in runs[name]),
            "errors": sum(r["errors"] for r in runs[name]),
        }
    ratios = [a["rps"] / b["rps"] for a, b in zip(runs["app"], runs["bare"], strict=True)]
    out["ratio"] = round(out["app"]["rps"]["median"] / out["bare"]["rps"]["median"], 4)
    out["ratio_per_rep"] = spread(ratios)
    out["tool"] = runs["app"][0]["tool"]
    return out


def fig_throughput(server: Server, staff: Session, client_id: int, cfg: dict, workdir: Path):
    path = f"/admin/clients/{client_id}/users"
    captured = staff.get(path)
    if captured.status_code != 200:
        raise RuntimeError(f"the Users tab answered {captured.status_code}")
    with bare_server(captured.content, workdir) as (bare_pid, bare_url):
        targets = {
            "app": (server.process.pid, f"{server.url}{path}", {"cookie": staff.cookies.header()}),
            "bare": (bare_pid, f"{bare_url}{path}", {}),
        }
        check = httpx.get(targets["bare"][1]).content
        if check != captured.content:
            raise RuntimeError("the bare app does not answer the captured bytes")
        runs: dict = {"app": [], "bare": []}
        for _, url, headers in targets.values():  # warm-up, not counted
            load.run(url, connections=cfg["connections"], seconds=cfg["warmup"], headers=headers)
        for rep in range(cfg["reps"]):
            order = ["app", "bare"] if rep % 2 == 0 else ["bare", "app"]
            for name in order:
                pid, url, headers = targets[name]
                profile = name == "app" and rep == 0
                runs[name].append(
                    timed_run(
                        pid, url, cfg, cfg["seconds"], profile=profile, label=name, headers=headers
                    )  # fmt: skip
                )
    out = {"page_bytes": len(captured.content), "connections": cfg["connections"]}
    out |= against_bare(runs)
    out["met"] = out["ratio"] >= 0.5 and out["app"]["errors"] == 0
    return out


def timed_samples(session: Session, paths: list[str], samples: int, cap: float) -> dict:
    latencies, statuses, per_query = [], {}, {}
    deadline = time.monotonic() + cap
    for i in range(samples):
        if time.monotonic() > deadline:
            break
        path = paths[i % len(paths)]
        started = time.perf_counter()
        answer = session.get(path, headers=HTMX)
        ms = (time.perf_counter() - started) * 1000
        latencies.append(ms)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        per_query.setdefault(path, []).append(ms)
    return {
        "n": len(latencies),
        "asked": samples,
        "capped": len(latencies) < samples,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "max_ms": round(max(latencies), 2),
        "statuses": statuses,
        "per_input_p50_ms": {p: round(statistics.median(v), 2) for p, v in per_query.items()},
    }


def fig_search(staff: Session, engine: str, summary: dict, cfg: dict) -> dict:
    inputs = ["a", "jo", "john s", "smi", summary["sample_email"]]
    client_id = summary["clients"]["Bench 25"]
    limit = 20 if engine == "postgresql" else 50
    out = {"inputs": inputs, "target_p95_ms": limit}
    out["user_search"] = timed_samples(
        staff,
        [f"/admin/clients/{client_id}/user-search?q={quote(q)}" for q in inputs],
        cfg["search_samples"],
        cfg["search_cap"],
    )
    out["manage_users"] = timed_samples(
        staff, [f"/admin/users?q={quote(q)}" for q in inputs], cfg["search_samples"],
        cfg["search_cap"],
    )  # fmt: skip
    out["met"] = all(
        out[k]["p95_ms"] <= limit and set(out[k]["statuses"]) == {200}
        for k in ("user_search", "manage_users")
    )
    return out


class TimedSink(MailSink):
    """MailSink noting when each recipient's message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server, session, envelope):
        when = time.perf_counter()
        for rcpt in envelope.rcpt_tos:
            self.arrived.setdefault(rcpt.lower(), when)
        return await super().handle_DATA(server, session, envelope)


def fig_invite_mail(owner: Session, sink: TimedSink, summary: dict, cfg: dict, tag: str):
    prefix = data.INVITE_ACCOUNT_PREFIX
    accounts = [v for k, v in summary["clients"].items() if k.startswith(prefix)]
    rng = random.Random(13)
    latencies, post_ms, failures = [], [], []
    per_account = math.ceil(cfg["invites"] / len(accounts))
    deadline = time.monotonic() + cfg["invites"] * 15
    for i in range(cfg["invites"]):
        if time.monotonic() > deadline:
            break
        if i % per_account == 0:
            select(owner, accounts[i // per_account])
        email = f"bench-{tag}-{i}-{secrets.token_hex(3)}@invitee.test"
        started = time.perf_counter()
        answer = owner.post("/account/users/invite", {"email": email, "scope": "all"}, headers=HTMX)
        post_ms.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            failures.append(answer.status_code)
            continue
        wait_until = time.monotonic() + 10
        while email not in sink.arrived and time.monotonic() < wait_until:
            time.sleep(0.002)
        if email in sink.arrived:
            latencies.append((sink.arrived[email] - started) * 1000)
        else:
            failures.append("no email within 10 s")
        time.sleep(rng.uniform(0, 0.5))
    if not latencies:
        raise RuntimeError(f"no invitation arrived: {failures[:5]}")
    p95 = percentile(latencies, 95)
    return {
        "n": len(latencies),
        "asked": cfg["invites"],
        "failures": failures,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(latencies), 1),
        "post_answer_p50_ms": round(percentile(post_ms, 50), 1),
        "met": p95 <= 1000 and not failures,
        "ideal_met": p95 <= 100,
    }


def fig_rss(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    clients = summary["clients"]
    with contextlib.ExitStack() as stack:
        server = Server(env, workdir, "server-rss")
        stack.callback(server.stop)
        server.wait_ready(time.monotonic() + 60)
        staff = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        owner = owner_login(server.url, data.OWNER_EMAIL, data.OWNER_PASSWORD, clients["Bench 25"])
        pid = server.process.pid
        mix = [
            (30, "staff", f"/admin/clients/{clients['Bench 25']}/users", None),
            (15, "owner", "/account/users", None),
            (10, "staff", "/admin/clients", None),
            (10, "staff", f"/admin/users/{summary['sample_user_id']}", None),
            (10, "anon", "/login", None),
            (10, "anon", "/static/css/roster.css", None),
            (5, "anon", "/static/js/app.js", None),
            (4, "owner", "/account", None),
            (2, "staff", f"/admin/clients/{clients['Bench 25']}/user-search?q=smi", HTMX),
            (2, "staff", "/admin/users?q=jo", HTMX),
        ]
        weights = [m[0] for m in mix]
        cookies = {"staff": staff.cookies.header(), "owner": owner.cookies.header(), "anon": ""}
        rng = random.Random(7)
        plan = rng.choices(mix, weights, k=cfg["mixed"])
        done = [0]
        statuses: dict = {}
        lock = threading.Lock()
        samples = [(0, round(rss_mib(pid), 1))]
        deadline = time.monotonic() + cfg["mixed_cap"]
        half = cfg["mixed"] // 2
        middle: list = []

        def worker(offset: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for n in range(offset, len(plan), 8):
                    if time.monotonic() > deadline:
                        return
                    _, who, path, extra = plan[n]
                    headers = {"cookie": cookies[who]} if cookies[who] else {}
                    headers.update(extra or {})
                    try:
                        status = http.get(path, headers=headers).status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    http.cookies.clear()
                    with lock:
                        done[0] += 1
                        statuses[status] = statuses.get(status, 0) + 1
                        if done[0] == half:
                            middle.append(round(rss_mib(pid), 1))

        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(1.0):
                samples.append((done[0], round(rss_mib(pid), 1)))

        watch = threading.Thread(target=sampler, daemon=True)
        watch.start()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(worker, range(8)))
        stop.set()
        watch.join()
        elapsed = time.monotonic() - started
        end = round(rss_mib(pid), 1)
        peak = max(s[1] for s in samples + [(0, end)])
    start = samples[0][1]
    mid = middle[0] if middle else None
    return {
        "requests": done[0],
        "asked": cfg["mixed"],
        "capped": done[0] < cfg["mixed"],
        "seconds": round(elapsed, 1),
        "statuses": {str(k): v for k, v in statuses.items()},
        "rss_mib": {"start": start, "middle": mid, "end": end, "peak": peak},
        "growth_second_half_mib": round(end - mid, 1) if mid is not None else None,
        "met": end <= 150 and peak <= 150,
    }


# ---------------------------------------------------------------------------------------------
# One engine


def bench_env(database_url: str) -> dict:
    """The environment of the benchmarked `roster` processes: this one's without its ROSTER_*
    variables, production mode on `database_url`, this checkout's code first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.pop("PICCOLO_CONF", None)
    env.update(
        {
            "ROSTER_DATABASE_URL": database_url,
            "ROSTER_SECRET_KEY": secrets.token_urlsafe(32),
            "ROSTER_ENV": "production",
            "ROSTER_BASE_URL": "http://127.0.0.1:8000",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    return env


def roster(env: dict, *args: str) -> str:
    return subprocess.run(
        [ROSTER, *args], env=env, cwd=REPO, check=True, capture_output=True, text=True, timeout=600
    ).stdout


ONLY: set | None = None
SCALE_FIGURES = {"live_latency", "workers"}  # bench/scale.py's; "scale" names both


def wanted(name: str) -> bool:
    """Whether --only (if given) names this figure."""
    return ONLY is None or name in ONLY or (name in SCALE_FIGURES and "scale" in ONLY)


def guarded(results: dict, name: str, fn, *args):
    """Runs one figure; an error is recorded, not raised, so the others still run. With --only,
    a figure not named is skipped."""
    if not wanted(name):
        return
    say(f"{name} …")
    started = time.monotonic()
    try:
        results[name] = fn(*args)
    except Exception as exc:  # noqa: BLE001 (reported in the JSON and the table)
        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000], "met": False}
        say(f"{name} failed: {results[name]['error'][:300]}")
    results[name]["figure_seconds"] = round(time.monotonic() - started, 1)


def figure_alone(
    name: str, figure, rows, profiles: dict, *, about: str, out: str, connections: bool = False
) -> int:
    """The `main` of a figure that also runs alone (`python -m bench.<module>`): its options, a
    scratch database with the suite's data and admin, `figure(env, workdir, summary, cfg)`, the
    JSON written to bench/results/`out`, and `rows(results)` printed with their verdicts."""
    from bench import data

    p = argparse.ArgumentParser(description=about)
    p.add_argument("--quick", action="store_true", help="the quick profile: fewer, shorter runs")
    p.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--postgres", default=os.environ.get("ROSTER_TEST_POSTGRES_URL") or None)
    p.add_argument("--users", type=int, default=2000, help="users generated")
    if connections:
        p.add_argument("--connections", type=int, default=32)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / out)
    p.add_argument("--profile", type=Path, help="py-spy profiles of the server into this folder")
    p.add_argument("--profile-gil", action="store_true", help="with --profile: the GIL's thread")
    args = p.parse_args()
    cfg = dict(profiles["quick" if args.quick else "full"])
    if connections:
        cfg["connections"] = args.connections
    cfg["profile_dir"] = str(args.profile) if args.profile else None
    cfg["profile_gil"] = args.profile_gil
    workdir = Path(tempfile.mkdtemp(prefix=f"roster-bench-{name}-"))
    results: dict = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "config": cfg}
    try:
        with scratch_database(args.engine, args.postgres, workdir) as (url, _name):
            env = bench_env(url)
            roster(env, "migrate")
            summary = data.generate(
                url, args.users, crowd=cfg.get("crowd", 0), staff=cfg.get("staff", 0)
            )
            roster(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD,
                   "--name", "Bench Admin")  # fmt: skip
            guarded(results, name, figure, env, workdir, summary, cfg)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["revision"] = revision()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    for row_name, measured, target, fig in rows(results):
        print(f"{row_name}: {measured}\n  target: {target}: {verdict(fig)}")
    return 0


def revision() -> str:
    """The checked-out commit, `-dirty` when the working tree has edits (the suite measures the
    working tree as it is)."""
    return subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()


def run_engine(engine: str, pg_server: str | None, cfg: dict) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"roster-bench-{engine}-"))
    results: dict = {"revision_at_start": revision()}
    try:
        with scratch_database(engine, pg_server, workdir) as (url, db_name):
            env = bench_env(url)
            say(f"{engine}: migrate, {cfg['users']:,} users")
            roster(env, "migrate")
            invite_accounts = math.ceil(cfg["invites"] / 45)
            summary = data.generate(
                url,
                cfg["users"],
                invite_accounts=invite_accounts,
                crowd=cfg["crowd"],
                staff=cfg["staff"],
            )
            roster(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD,
                   "--name", "Bench Admin")  # fmt: skip
            results["data"] = summary
            say(f"{engine}: data in {summary['seconds']} s")
            pg_url = url if engine == "postgresql" else None
            guarded(results, "statements", fig_statements, env, summary, db_name, pg_url)

            sink = TimedSink().start()
            try:
                server_env = {**env, "ROSTER_SMTP_URL": sink.url}
                server = Server(server_env, workdir, "server")
                try:
                    server.wait_ready(time.monotonic() + 60)
                    clients = summary["clients"]
                    staff = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
                    owner = owner_login(
                        server.url, data.OWNER_EMAIL, data.OWNER_PASSWORD, clients["Bench 25"]
                    )
                    tab = f"/admin/clients/{clients['Bench 25']}/users"
                    guarded(results, "big_account", fig_big_account, staff, owner, clients)
                    guarded(results, "first_load", fig_first_load, server.url,
                            staff.cookies.header(), tab)  # fmt: skip
                    guarded(results, "throughput", fig_throughput, server, staff,
                            clients["Bench 25"], cfg, workdir)  # fmt: skip
                    guarded(results, "search", fig_search, staff, engine, summary, cfg)
                    guarded(results, "invite_mail", fig_invite_mail, owner, sink, summary, cfg,
                            engine)  # fmt: skip
                finally:
                    server.stop()
                guarded(results, "rss", fig_rss, server_env, workdir, summary, cfg)
                guarded(results, "webhooks", webhooks.fig_webhooks, server_env, workdir,
                        summary, cfg)  # fmt: skip
                guarded(results, "bulk_invite", bulk_invite.fig_bulk_invite, server_env, workdir,
                        summary, cfg)  # fmt: skip
                guarded(results, "login_burst", burst.fig_login_burst, server_env, workdir,
                        summary, cfg)  # fmt: skip
                guarded(results, "fresh_page", fresh.fig_fresh_page, server_env, workdir,
                        summary, cfg)  # fmt: skip
                guarded(results, "mix", mix.fig_mix, server_env, workdir, summary, cfg)
                if engine == "postgresql" and any(wanted(f) for f in SCALE_FIGURES):
                    from bench import scale

                    scale.run_figures(results, server_env, workdir, summary, cfg, guarded)
            finally:
                sink.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------------------------
# The table


def verdict(figure: dict) -> str:
    if "error" in figure:
        return "ERROR"
    said = "met" if figure.get("met") else "not met"
    return f"{said} (noisy)" if figure.get("noisy") else said


def rows(engine: str, r: dict) -> list[tuple[str, str, str, str]]:
    out = []

    def add(name, measured, target, fig):
        out.append((name, measured, target, verdict(fig)))

    def err(fig):
        return fig.get("error", "")[:90]

    f = r.get("throughput", {})
    if "error" in f:
        add("1 Users tab rps vs bare", err(f), TARGETS["throughput"], f)
    elif f:
        add(
            "1 Users tab rps vs bare",
            f"{f['ratio']:.3f}× ({f['app']['rps']['median']:.0f} vs "
            f"{f['bare']['rps']['median']:.0f} rps; app {f['app']['rps']['min']:.0f}–"
            f"{f['app']['rps']['max']:.0f}, bare {f['bare']['rps']['min']:.0f}–"
            f"{f['bare']['rps']['max']:.0f}); p95 {f['app']['p95_ms']['median']:.0f} vs "
            f"{f['bare']['p95_ms']['median']:.0f} ms; CPU/req "
            f"{f['app']['cpu_ms_per_request']['median']:.2f} vs "
            f"{f['bare']['cpu_ms_per_request']['median']:.2f} ms",
            TARGETS["throughput"],
            f,
        )
    f = r.get("statements", {})
    if "error" in f:
        add("2 SQL statements per render", err(f), TARGETS["statements"], f)
    elif f:
        p = f["pages"]
        add(
            "2 SQL statements per render",
            f"Users tab {'/'.join(str(p[f'users_tab_{n}']['statements']) for n in (1, 25, 1000))}"
            f", /account/users "
            f"{'/'.join(str(p[f'account_users_{n}']['statements']) for n in (1, 25, 1000))}"
            f" (1/25/1000 users; {f['source']})",
            TARGETS["statements"],
            f,
        )
    f = r.get("big_account", {})
    if "error" in f:
        add("3 account of 1,000 users", err(f), TARGETS["big_account"], f)
    elif f:
        add(
            "3 account of 1,000 users",
            f"Users tab {f['users_tab']['identity_bytes'] / KIB:.0f} KB "
            f"(br {f['users_tab']['br_bytes'] / KIB:.0f}), /account/users "
            f"{f['account_users']['identity_bytes'] / KIB:.0f} KB "
            f"(br {f['account_users']['br_bytes'] / KIB:.0f})",
            TARGETS["big_account"],
            f,
        )
    f = r.get("search", {})
    users = r.get("data", {}).get("users", 0)
    target = TARGETS["search_postgres" if engine == "postgresql" else "search_sqlite"]
    if "error" in f:
        add("4 type-ahead", err(f), target, f)
    elif f:
        u, m = f["user_search"], f["manage_users"]

        def slowest(samples: dict) -> str:
            path, ms = max(samples["per_input_p50_ms"].items(), key=lambda item: item[1])
            return f"{unquote(path.split('q=', 1)[1])!r} {ms:.0f}"

        add(
            f"4 type-ahead at {users:,} users",
            f"user-search p50 {u['p50_ms']:.1f} / p95 {u['p95_ms']:.1f} ms (n={u['n']}); "
            f"Manage Users p50 {m['p50_ms']:.1f} / p95 {m['p95_ms']:.1f} ms (n={m['n']}); "
            f"slowest input's p50: {slowest(u)}, {slowest(m)} ms",
            target,
            f,
        )
    f = r.get("invite_mail", {})
    if "error" in f:
        add("5 Send Invite → SMTP", err(f), TARGETS["invite_mail"], f)
    elif f:
        add(
            "5 Send Invite → SMTP",
            f"p50 {f['p50_ms']:.0f} / p95 {f['p95_ms']:.0f} / max {f['max_ms']:.0f} ms "
            f"(n={f['n']}, failures {len(f['failures'])})",
            TARGETS["invite_mail"],
            f,
        )
    f = r.get("first_load", {})
    if "error" in f:
        add("6 Users tab first load", err(f), TARGETS["first_load"], f)
    elif f:
        kinds = ", ".join(f"{k} {v}" for k, v in f["by_kind_kib"].items())
        add(
            "6 Users tab first load",
            f"{f['total_kib']} KB ({kinds}; br/gzip as sent)",
            TARGETS["first_load"],
            f,
        )
    f = r.get("rss", {})
    if "error" in f:
        add("7 RSS, mixed requests", err(f), TARGETS["rss"], f)
    elif f:
        rss = f["rss_mib"]
        add(
            f"7 RSS after {f['requests']:,} mixed requests",
            f"start {rss['start']} / middle {rss['middle']} / end {rss['end']} MB "
            f"(peak {rss['peak']}; {f['seconds']} s)",
            TARGETS["rss"],
            f,
        )
    more = (*webhooks.rows(r), *bulk_invite.rows(r), *burst.rows(r), *fresh.rows(r), *mix.rows(r))
    for name, measured, target, fig in more:
        add(name, measured, target, fig)
    if engine == "postgresql":
        from bench import scale

        for name, measured, target, fig in scale.rows(r):
            add(name, measured, target, fig)
    return out


def table(results: dict) -> str:
    lines = []
    header = ("engine", "figure", "measured", "target", "verdict")
    body = []
    for engine, r in results["engines"].items():
        for name, measured, target, v in rows(engine, r):
            body.append((engine, name, measured, target, v))
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(5)]
    widths[2] = min(widths[2], 150)
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*header))
    lines.append("-+-".join("-" * w for w in widths))
    lines.extend(fmt.format(*row) for row in body)
    if results.get("postgres_only_note"):
        lines.append(f"\nNote: {results['postgres_only_note']}.")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description="Roster's benchmark suite.")
    p.add_argument("--quick", action="store_true", help="50,000 users, shorter runs")
    p.add_argument("--users", type=int)
    p.add_argument("--reps", type=int)
    p.add_argument("--seconds", type=float, help="length of one throughput run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--postgres", default=os.environ.get("ROSTER_TEST_POSTGRES_URL") or None)
    p.add_argument("--engines", default="sqlite,postgresql")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latest.json")
    p.add_argument("--show", type=Path, help="print the table of an earlier JSON; run nothing")
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: only the thread holding the GIL is sampled (Python's own CPU, "
        "without time blocked in system calls such as socket writes)",
    )
    p.add_argument(
        "--only",
        help="run only these figures (comma-separated: statements, big_account, first_load, "
        "throughput, search, invite_mail, rss, webhooks, bulk_invite, login_burst, fresh_page, "
        "mix, live_latency, workers; "
        "scale: the last two), e.g. --only throughput",
    )
    p.add_argument(
        "--profile",
        type=Path,
        help="with throughput: py-spy (the venv's) records the app server during its first "
        "measured run into this directory (collapsed stacks, text)",
    )
    args = p.parse_args()
    if args.show:
        print(table(json.loads(args.show.read_text())))
        return 0
    from bench import scale

    profile = "quick" if args.quick else "full"
    cfg = {
        **PROFILES[profile],
        **scale.PROFILES[profile],
        **webhooks.PROFILES[profile],
        **burst.PROFILES[profile],
        **bulk_invite.PROFILES[profile],
        **fresh.PROFILES[profile],
        **mix.PROFILES[profile],
        "connections": args.connections,
    }
    cfg["only"] = {f.strip() for f in args.only.split(",") if f.strip()} if args.only else None
    cfg["profile_dir"] = str(args.profile) if args.profile else None
    cfg["profile_gil"] = args.profile_gil
    for key in ("users", "reps", "seconds"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "postgresql" in engines and not args.postgres:
        say("no --postgres URL and no ROSTER_TEST_POSTGRES_URL: PostgreSQL is skipped")
        engines.remove("postgresql")
    results = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "config": cfg,
        "revision": revision(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_tool": "wrk" if load.wrk_path() else "python (bench/load.py)",
        "targets": {
            **TARGETS,
            **scale.TARGETS,
            **bulk_invite.TARGETS,
            **fresh.TARGETS,
            **mix.TARGETS,
        },
        "engines": {},
    }
    if "postgresql" not in engines:
        why = scale.NO_URL if not args.postgres else "--engines without postgresql"
        results["postgres_only_note"] = scale.NOT_MEASURED.format(why=why)
        say(results["postgres_only_note"])
    global ONLY
    ONLY = cfg["only"]
    for engine in engines:
        started = time.monotonic()
        results["engines"][engine] = run_engine(engine, args.postgres, cfg)
        results["engines"][engine]["seconds"] = round(time.monotonic() - started, 1)
        results["engines"][engine]["revision_at_end"] = revision()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    changed = [
        f"{e}: {r['revision_at_start']} -> {r['revision_at_end']}"
        for e, r in results["engines"].items()
        if r["revision_at_start"] != r["revision_at_end"]
    ]
    if changed:
        print(f"\nThe code changed during the run ({'; '.join(changed)}): run it again.")
    print(f"\nJSON: {args.out} (revision {results['revision']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
