"""Figure 12 of the benchmark suite: page views during a burst of logins, on either engine.

    .venv/bin/python -m bench.burst [--quick] [--engine sqlite|postgresql] [--postgres URL]

Password hashing (argon2id, one pass over 46 MiB, one lane) takes a whole core on purpose. A full
admin views the Users tab of "Bench 25" at a steady `burst_rate` a second, each view with a query
string never sent before (nothing kept answers it), its latency counted from the moment it was
due (so a slow answer delays the next one's clock, not the schedule). After `burst_calm` seconds,
`burst_logins` different people log in at the same instant, each from an address of its own.
Page views due from the burst's start to its last login's answer are "during".

Two servers in turn, on the same data: hashing in the pool of ROSTER_HASHING_THREADS (the default,
one less than the cores) and with as many threads as Python's default pool had (cores + 4, how
Roster hashed before the pool: every login of the burst hashing at once). `burst_reps` each,
interleaved. Target: page views during the burst p95 ≤ 100 ms with the default pool."""

import os
import statistics
import sys
import threading
import time
from pathlib import Path

from bench.sessions import Session, staff_login

HTMX = {"hx-request": "true"}
PROFILES = {
    "full": {"burst_logins": 20, "burst_rate": 20, "burst_calm": 3.0, "burst_reps": 3},
    "quick": {"burst_logins": 20, "burst_rate": 20, "burst_calm": 2.0, "burst_reps": 1},
}
TARGETS = {"login_burst": "page views during a burst of 20 logins p95 ≤ 100 ms"}
TARGET_MS = 100
UNBOUNDED = str((os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default on this machine


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def view_pages(staff: Session, path: str, rate: float, stop: threading.Event, out: list) -> None:
    """Appends (due, latency ms, status) for one view every 1/rate s until `stop`."""
    due = time.perf_counter()
    n = 0
    while not stop.is_set():
        due += 1 / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        n += 1
        answer = staff.get(f"{path}?view={n}-{time.time_ns()}", headers=HTMX)
        out.append((due, (time.perf_counter() - due) * 1000, answer.status_code))


def log_in(base_url: str, email: str, password: str, ip: str, start: threading.Barrier) -> dict:
    session = Session(base_url, timeout=120, local_address=ip)
    try:
        session.get("/login")
        start.wait()
        began = time.perf_counter()
        answer = session.post("/login", {"email": email, "password": password})
        return {"began": began, "ended": time.perf_counter(), "status": answer.status_code}
    finally:
        session.close()


def one_burst(server_url: str, staff: Session, path: str, logins: list, cfg: dict, burst: int):
    views: list = []
    stop = threading.Event()
    viewer = threading.Thread(
        target=view_pages, args=(staff, path, cfg["burst_rate"], stop, views), daemon=True
    )
    viewer.start()
    time.sleep(cfg["burst_calm"])
    start = threading.Barrier(len(logins))
    results: list = [None] * len(logins)

    def login(i: int, email: str, password: str) -> None:
        results[i] = log_in(server_url, email, password, f"127.0.{20 + burst}.{i + 1}", start)

    threads = [
        threading.Thread(target=login, args=(i, email, password))
        for i, (email, password) in enumerate(logins)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.5)
    stop.set()
    viewer.join()
    began = min(r["began"] for r in results)
    ended = max(r["ended"] for r in results)
    calm = [ms for due, ms, _ in views if due < began]
    during = [ms for due, ms, _ in views if began <= due <= ended]
    login_ms = [(r["ended"] - r["began"]) * 1000 for r in results]
    return {
        "calm_p95_ms": round(percentile(calm, 95), 1),
        "during_p50_ms": round(percentile(during, 50), 1),
        "during_p95_ms": round(percentile(during, 95), 1),
        "during_views": len(during),
        "burst_seconds": round(ended - began, 2),
        "login_p50_ms": round(percentile(login_ms, 50)),
        "login_max_ms": round(max(login_ms)),
        "logins_refused": sum(r["status"] != 303 for r in results),
        "view_errors": sum(status != 200 for _, _, status in views),
    }


def fig_login_burst(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    """Figure 12 on servers of its own: the default pool, then as many threads as before it."""
    from bench.data import user_password
    from bench.suite import ADMIN_EMAIL, ADMIN_PASSWORD
    from soak.servers import Server

    people = summary["login_emails"]
    needed = cfg["burst_logins"] * cfg["burst_reps"] * 2
    if len(people) < needed:
        raise RuntimeError(f"{len(people)} people to log in in the data; the figure needs {needed}")
    path = f"/admin/clients/{summary['clients']['Bench 25']}/users"
    runs: dict = {"pool": [], "unbounded": []}
    used = iter(people)
    for rep in range(cfg["burst_reps"]):
        order = ["pool", "unbounded"] if rep % 2 == 0 else ["unbounded", "pool"]
        for burst, kind in enumerate(order, start=rep * 2):
            threads = {} if kind == "pool" else {"ROSTER_HASHING_THREADS": UNBOUNDED}
            server = Server({**env, **threads}, workdir, f"burst-{kind}-{rep}")
            try:
                server.wait_ready(time.monotonic() + 60)
                staff = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
                for _ in range(20):  # warm: templates compiled, connections open
                    staff.get(path, headers=HTMX)
                logins = [
                    (next(used), user_password(summary["seed"])) for _ in range(cfg["burst_logins"])
                ]
                runs[kind].append(one_burst(server.url, staff, path, logins, cfg, burst))
                print(f"  login burst {kind} #{rep + 1}: {runs[kind][-1]}", flush=True)
            finally:
                server.stop()

    def median(kind: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[kind]), 1)

    out = {
        "runs": runs,
        "threads": {"pool": "default (cores - 1)", "unbounded": UNBOUNDED},
        "during_p95_ms": {kind: median(kind, "during_p95_ms") for kind in runs},
        "calm_p95_ms": {kind: median(kind, "calm_p95_ms") for kind in runs},
        "burst_seconds": {kind: median(kind, "burst_seconds") for kind in runs},
        "target_p95_ms": TARGET_MS,
    }
    clean = all(
        r["logins_refused"] == 0 and r["view_errors"] == 0 for rs in runs.values() for r in rs
    )
    out["met"] = out["during_p95_ms"]["pool"] <= TARGET_MS and clean
    return out


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    f = r.get("login_burst", {})
    if "error" in f:
        return [("12 pages during 20 logins", f["error"][:90], TARGETS["login_burst"], f)]
    if not f:
        return []
    during, calm, burst = f["during_p95_ms"], f["calm_p95_ms"], f["burst_seconds"]
    return [
        (
            "12 pages during 20 logins",
            f"p95 {during['pool']} ms (calm {calm['pool']}; burst {burst['pool']} s) with the "
            f"pool; {during['unbounded']} ms (calm {calm['unbounded']}; burst "
            f"{burst['unbounded']} s) with {f['threads']['unbounded']} threads",
            TARGETS["login_burst"],
            f,
        )
    ]


def main() -> int:
    from bench import suite

    return suite.figure_alone(
        "login_burst",
        fig_login_burst,
        rows,
        PROFILES,
        about="Figure 12 of the suite: page views during a burst of logins.",
        out="burst.json",
    )


if __name__ == "__main__":
    sys.exit(main())
