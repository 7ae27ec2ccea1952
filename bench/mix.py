"""Figure 14 of the benchmark suite: a realistic mix of traffic, offered at a constant rate.

    .venv/bin/python -m bench.mix [--quick] [--engine sqlite|postgresql] [--postgres URL]
                                  [--users N]

An open-loop generator: requests leave at a constant rate whatever the server does (a slow
answer does not slow the next request down, as it would a waiting client), each one's latency
counted from the moment it was due. The traffic, over bench/data.py's crowd (`crowd` accounts of
5 to 45 users, each owner signed in) and `staff` signed-in staff members, of whom `owners` owners
act (their client sessions), each request drawn at random:

    staff: the Users tab of a random account           30 %
    owners: their User Management                      24 %
    staff: Associate User's type-ahead (htmx)          12 %
    staff: Manage Users' search (htmx)                  8 %
    owners: a user's permissions saved (htmx)          12 %
    owners: Invite New User (htmx)                     12 %
    people: a login (argon2id)                          2 %  (1 in 50)

Reported: the highest rate, of rising steps, at which the p95 stays at or under 50 ms (with no
errors and the rate kept up), on one worker and, on PostgreSQL, on `--workers 2`; and the
latency at a fixed 150 requests/s, `mix_reps` runs, with the spread. Traffic goes to 127.0.0.1
only, each step bounded in time."""

import asyncio
import random
import statistics
import sys
import time
from collections import deque
from pathlib import Path

from soak.servers import Server

PROFILES = {
    "full": {"crowd": 10_000, "staff": 50, "mix_crowd_owners": 500, "mix_step_seconds": 8,
             "mix_reps": 3, "mix_seconds": 10},
    "quick": {"crowd": 5_000, "staff": 50, "mix_crowd_owners": 500, "mix_step_seconds": 4,
              "mix_reps": 3, "mix_seconds": 5},
}  # fmt: skip
TARGET_P95_MS = 50
FIXED_RATE = 150
STEPS = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500)
TARGETS = {
    "mix": f"throughput at p95 ≤ {TARGET_P95_MS} ms, and the latency at {FIXED_RATE} requests/s"
}
WEIGHTS = {
    "users_tab": 30,
    "user_management": 24,
    "type_ahead": 12,
    "manage_users_search": 8,
    "permissions": 12,
    "invite": 12,
    "login": 2,
}
LOGIN_VISITORS = 20
SEARCHES = ("jo", "ma", "smi", "da", "wil", "john s", "an", "br", "jen", "mic")
CONNECTIONS = 256  # at most, open at once; a request waits for one beyond that (and it counts)
IDLE_FOR = 3.0  # seconds a kept connection may sit idle (uvicorn closes it after 5)


class Http:
    """HTTP/1.1 keep-alive connections to one server, at most CONNECTIONS of them."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: deque = deque()
        self.slots = asyncio.Semaphore(CONNECTIONS)

    async def request(self, method: str, path: str, headers: dict, body: bytes = b""):
        """(status, set-cookie values, body); a lost connection is one error."""
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn, last_used = self.idle.pop()
                if time.monotonic() - last_used > IDLE_FOR:  # the server may have closed it
                    conn[1].close()
                    conn = None
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            try:
                lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
                lines += [f"{k}: {v}" for k, v in headers.items()]
                if body:
                    lines.append(f"Content-Length: {len(body)}")
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length, chunked, close, cookies = 0, False, False, []
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name, value = name.strip().lower(), value.strip()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                    elif name == b"connection" and value.lower() == b"close":
                        close = True
                    elif name == b"set-cookie":
                        cookies.append(value.decode("latin-1"))
                if chunked:
                    data = b""
                    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                        data += (await reader.readexactly(size + 2))[:-2]
                    await reader.readuntil(b"\r\n")
                else:
                    data = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self.idle.append((conn, time.monotonic()))
            return status, cookies, data


class Visitor:
    """A signed-in session (its roster_session cookie) and the CSRF cookie it was given."""

    def __init__(self, session_cookie: str) -> None:
        self.session = session_cookie
        self.csrf = ""

    def headers(self, post: bool = False, htmx: bool = False) -> dict:
        cookies = [f"roster_session={self.session}"] if self.session else []
        cookies += [f"roster_csrf={self.csrf}"] if self.csrf else []
        headers = {"Cookie": "; ".join(cookies)} if cookies else {}
        if post:
            headers["x-csrftoken"] = self.csrf
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["hx-request"] = "true"
        return headers

    def take(self, cookies: list[str]) -> None:
        for line in cookies:
            name, _, value = line.split(";", 1)[0].partition("=")
            if name.strip() == "roster_csrf" and value:
                self.csrf = value


class Traffic:
    """Draws the next request of the mix."""

    def __init__(self, summary: dict, cfg: dict, seed: int) -> None:
        self.rng = random.Random(seed)
        self.crowd = summary["crowd"]
        self.staff = [Visitor(cookie) for _, _, cookie in summary["staff"]]
        owners = self.rng.sample(self.crowd, min(cfg["mix_crowd_owners"], len(self.crowd)))
        self.owners = [(Visitor(c[2]), c[3]) for c in owners]
        self.login_emails = [c[1] for c in self.crowd]
        # Visitors on the login page, each with the CSRF cookie it gave them (warm_up).
        self.visitors = [Visitor("") for _ in range(LOGIN_VISITORS)]
        self.password = f"bench-User-passphrase-{summary['seed']}"
        self.kinds = list(WEIGHTS)
        self.weights = list(WEIGHTS.values())
        self.invites = 0

    def next(self):
        """(kind, visitor, method, path, htmx, form body)."""
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        account = rng.choice(self.crowd)[0]
        q = rng.choice(SEARCHES).replace(" ", "+")
        staff = rng.choice(self.staff)
        if kind == "users_tab":
            return kind, staff, "GET", f"/admin/clients/{account}/users", False, b""
        if kind == "type_ahead":
            return kind, staff, "GET", f"/admin/clients/{account}/user-search?q={q}", True, b""
        if kind == "manage_users_search":
            return kind, staff, "GET", f"/admin/users?q={q}", True, b""
        if kind == "login":
            body = f"email={rng.choice(self.login_emails)}&password={self.password}"
            return kind, rng.choice(self.visitors), "POST", "/login", False, body.encode()
        owner, members = rng.choice(self.owners)
        if kind == "user_management":
            return kind, owner, "GET", "/account/users", False, b""
        if kind == "permissions" and members:
            keys = rng.sample(("invoices", "tickets", "domains", "quotes", "emails"), 2)
            body = "scope=choose&" + "&".join(f"permissions={k}" for k in keys)
            path = f"/account/users/{rng.choice(members)}/permissions"
            return kind, owner, "POST", path, True, body.encode()
        self.invites += 1
        email = f"mix{self.invites}.{time.time_ns()}@invitee.test"
        body = f"email={email}&scope=choose&permissions=tickets"
        return "invite", owner, "POST", "/account/users/invite", True, body.encode()


async def warm_up(http: Http, traffic: Traffic) -> None:
    """Every session's CSRF cookie (its first page gives it), before anything is timed."""

    async def first_page(visitor: Visitor, path: str) -> None:
        _, cookies, _ = await http.request("GET", path, visitor.headers())
        visitor.take(cookies)

    pages = [first_page(v, "/login") for v in traffic.visitors]
    pages += [first_page(v, "/admin/clients") for v in traffic.staff]
    pages += [first_page(v, "/account/users") for v, _ in traffic.owners]
    for n in range(0, len(pages), 32):
        await asyncio.gather(*pages[n : n + 32])


async def offer(http: Http, traffic: Traffic, rate: float, seconds: float) -> dict:
    """Requests at `rate` a second for `seconds`, each sent when due; their latencies."""
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    tasks = []

    async def one(due: float, kind, visitor, method, path, htmx, body) -> None:
        headers = visitor.headers(post=method == "POST", htmx=htmx)
        try:
            status, cookies, _ = await http.request(method, path, headers, body)
            if kind != "login":  # a login's new session is not the visitor's
                visitor.take(cookies)
            ok = status < 400 or (kind == "invite" and status == 422)  # a daily limit reached
            if not ok:
                key = f"{kind} {status}"
                errors[key] = errors.get(key, 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            key = f"{kind} {type(exc).__name__}"
            errors[key] = errors.get(key, 0) + 1
        ms = (time.perf_counter() - due) * 1000
        latencies.append(ms)
        by_kind.setdefault(kind, []).append(ms)

    started = time.perf_counter()
    n = 0
    while (due := started + n / rate) < started + seconds:
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(due, *traffic.next())))
        n += 1
    sent_in = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    return {
        "offered_rps": rate,
        "requests": len(latencies),
        "sent_rps": round(n / sent_in, 1),
        "completed_in_s": round(time.perf_counter() - started, 2),
        "p50_ms": round(pct(latencies, 50), 1),
        "p95_ms": round(pct(latencies, 95), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "p95_by_kind_ms": {k: round(pct(v, 95), 1) for k, v in sorted(by_kind.items())},
        "errors": errors,
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def kept_up(run: dict) -> bool:
    """The generator sent at the rate asked (it shares the machine), and the server answered
    within a second of the last request being due."""
    return run["sent_rps"] >= 0.95 * run["offered_rps"] and (
        run["completed_in_s"] <= run["requests"] / run["offered_rps"] + 1
    )


async def measure(base_url: str, summary: dict, cfg: dict, seed: int) -> dict:
    host, port = base_url.removeprefix("http://").split(":")
    http = Http(host, int(port))
    traffic = Traffic(summary, cfg, seed)
    await warm_up(http, traffic)
    steps, best = [], None
    from bench import suite

    for rate in STEPS:
        run = await offer(http, traffic, rate, cfg["mix_step_seconds"])
        steps.append(run)
        suite.say(
            f"  mix at {rate}/s: p95 {run['p95_ms']} ms, errors {sum(run['errors'].values())}"
        )
        if run["p95_ms"] > TARGET_P95_MS or run["errors"] or not kept_up(run):
            break
        best = rate
    fixed = []
    for _ in range(cfg["mix_reps"]):
        fixed.append(await offer(http, traffic, FIXED_RATE, cfg["mix_seconds"]))
        suite.say(f"  mix at {FIXED_RATE}/s: p95 {fixed[-1]['p95_ms']} ms")
    return {
        "rps_at_p95_target": best,
        "steps": steps,
        "at_fixed_rate": fixed,
        "fixed_p95_ms": {
            "median": statistics.median(r["p95_ms"] for r in fixed),
            "runs": [r["p95_ms"] for r in fixed],
        },
        "fixed_errors": sum(sum(r["errors"].values()) for r in fixed),
    }


def fig_mix(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    if not summary.get("crowd") or not summary.get("staff"):
        raise RuntimeError("the data has no crowd or no staff (bench.data.generate)")
    postgres = env["ROSTER_DATABASE_URL"].startswith("postgres")
    setups = {"one_worker": ()} | ({"two_workers": ("--workers", "2")} if postgres else {})
    out: dict = {}
    for n, (name, args) in enumerate(setups.items()):
        server = Server(env, workdir, f"mix-{name}", args)
        try:
            server.wait_ready(time.monotonic() + 60)
            out[name] = asyncio.run(measure(server.url, summary, cfg, seed=100 + n))
        finally:
            server.stop()
    out["met"] = all(
        out[name]["rps_at_p95_target"] is not None and out[name]["fixed_errors"] == 0
        for name in setups
    )
    return out


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    f = r.get("mix", {})
    if "error" in f:
        return [("14 mix", f["error"][:90], TARGETS["mix"], f)]
    out = []
    for name in ("one_worker", "two_workers"):
        m = f.get(name)
        if not m:
            continue
        fixed = m["fixed_p95_ms"]
        out.append(
            (
                f"14 mix, {name.replace('_', ' ')}",
                f"{m['rps_at_p95_target']} requests/s at p95 ≤ {TARGET_P95_MS} ms; at "
                f"{FIXED_RATE}/s p95 {fixed['median']} ms (runs {fixed['runs']}), "
                f"errors {m['fixed_errors']}",
                TARGETS["mix"],
                f,
            )
        )
    return out


def main() -> int:
    from bench import suite

    return suite.figure_alone(
        "mix",
        fig_mix,
        rows,
        PROFILES,
        about="Figure 14 of the suite: a realistic mix of traffic, offered at a constant rate.",
        out="mix.json",
    )


if __name__ == "__main__":
    sys.exit(main())
