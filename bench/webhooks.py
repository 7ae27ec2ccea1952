"""Figure 10 of the benchmark suite: webhooks, on either engine.

    .venv/bin/python -m bench.webhooks [--quick] [--engine sqlite|postgresql] [--postgres URL]

One `roster serve` (development mode, where http endpoints are taken, and
ROSTER_WEBHOOK_ALLOW_PRIVATE=1 for the receivers on 127.0.0.1) on the suite's data. A full admin
adds endpoints through /admin/webhooks.

a. delivery: a receiver answering 204 takes `grant.updated`; `webhook_changes` (1,000; quick:
   200) changes are made over HTTP one after another, each a full admin setting the permissions
   of one "Bench 25" member (POST /admin/clients/{id}/users/{user}/permissions as htmx sends it),
   members in turn and the set alternating, so that no two changes are the same. For each change:
   from its answer (the change committed before it) to the receiver having the event of that
   webhook-id. Every change must be received, once. Target: all received, p95 ≤ 1000 ms.
b. a receiver that never answers: figure 1's request (the Users tab of "Bench 25", wrk or
   bench/load.py at --connections) while a background client makes a change every 100 ms, with and
   without a second endpoint, taking every event, whose address accepts connections and never
   answers (each attempt waits out the 10 s timeout; the sender backs off). Runs interleaved
   (the order alternating), `webhook_reps` each: the ratio of the median requests/s (dead /
   without). Target: ≥ 0.9 (a dead receiver does not slow the pages) and no error."""

import http.server
import re
import socket
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from bench import load
from bench.sessions import Session, staff_login

HTMX = {"hx-request": "true"}
PERMISSION_SETS = (["invoices", "tickets"], ["invoices", "quotes", "domains"])

PROFILES = {
    "full": {"webhook_changes": 1000, "webhook_reps": 3, "webhook_seconds": 10.0},
    "quick": {"webhook_changes": 200, "webhook_reps": 2, "webhook_seconds": 5.0},
}
TARGETS = {
    "webhooks": "every change received once, p95 ≤ 1000 ms; Users tab ≥ 0.9× with a dead receiver"
}


class Receiver:
    """Answers 204 to every POST and notes when each webhook-id arrived (monotonic seconds)."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}
        arrived, lock = self.arrived, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("content-length", 0)))
                at = time.monotonic()
                with lock:
                    arrived.setdefault(self.headers["webhook-id"], []).append(at)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def silent_address():
    """An address that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/never"
    finally:
        listener.close()


def add_endpoint(staff: Session, url: str, event_types: list[str] | None) -> int:
    form: dict = {"url": url, "description": "bench", "scope": "all"}
    if event_types:
        form = {**form, "scope": "choose", "event_types": event_types}
    answer = staff.post("/admin/webhooks", form, headers=HTMX)
    found = re.search(r"Signing secret of endpoint #(\d+)", answer.text)
    if answer.status_code != 200 or not found:
        raise RuntimeError(f"adding a webhook endpoint answered {answer.status_code}")
    return int(found.group(1))


def delete_endpoint(staff: Session, endpoint_id: int) -> None:
    staff.post(f"/admin/webhooks/{endpoint_id}/delete", headers=HTMX)


def members_of(staff: Session, client_id: int) -> list[int]:
    tab = staff.get(f"/admin/clients/{client_id}/users").text
    return [int(found) for found in re.findall(r'id="perm-(\d+)"', tab)]


class Changes:
    """Permission changes on "Bench 25", members in turn and the set alternating."""

    def __init__(self, staff: Session, client_id: int) -> None:
        self.staff, self.client_id = staff, client_id
        self.members = members_of(staff, client_id)
        if not self.members:
            raise RuntimeError('"Bench 25" shows no member to change')
        self.done = 0

    def make(self) -> float:
        """One change; the monotonic time its answer arrived."""
        member = self.members[self.done % len(self.members)]
        keys = PERMISSION_SETS[(self.done // len(self.members)) % 2]
        answer = self.staff.post(
            f"/admin/clients/{self.client_id}/users/{member}/permissions",
            {"permissions": keys},
            headers=HTMX,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"a permission change answered {answer.status_code}")
        self.done += 1
        return time.monotonic()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fig_delivery(staff: Session, client_id: int, cfg: dict) -> dict:
    receiver = Receiver()
    endpoint = add_endpoint(staff, receiver.url, ["grant.updated"])
    changes = Changes(staff, client_id)
    try:
        answered = [changes.make() for _ in range(cfg["webhook_changes"])]
        deadline = time.monotonic() + 120
        while len(receiver.arrived) < len(answered) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # a second copy of any, if one were sent
    finally:
        delete_endpoint(staff, endpoint)
        receiver.close()
    firsts = sorted(times[0] for times in receiver.arrived.values())
    # Deliveries go out in the order of the changes: the i-th arrival is the i-th change's.
    latencies = [
        max(0.0, (arrived - done) * 1000) for arrived, done in zip(firsts, answered, strict=False)
    ]
    twice = sum(1 for times in receiver.arrived.values() if len(times) > 1)
    out = {
        "changes": len(answered),
        "received": len(receiver.arrived),
        "received_twice": twice,
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
    }
    out["met"] = out["received"] == out["changes"] and twice == 0 and (out["p95_ms"] or 1e9) <= 1000
    return out


def churn(changes: Changes, stop: threading.Event) -> None:
    """A change every 100 ms until `stop`."""
    while not stop.is_set():
        changes.make()
        stop.wait(0.1)


def fig_dead_receiver(
    server_url: str, staff: Session, background: Session, client_id: int, cfg: dict
) -> dict:
    """`background`: another staff session, which makes the changes while the load runs."""
    tab = f"{server_url}/admin/clients/{client_id}/users"
    headers = {"cookie": staff.cookies.header()}
    changes = Changes(background, client_id)
    runs: dict = {"without": [], "dead": []}
    with silent_address() as never:
        for rep in range(cfg["webhook_reps"]):
            for name in ("without", "dead") if rep % 2 == 0 else ("dead", "without"):
                endpoint = add_endpoint(staff, never, None) if name == "dead" else None
                stop = threading.Event()
                worker = threading.Thread(target=churn, args=(changes, stop), daemon=True)
                worker.start()
                try:
                    result = load.run(
                        tab,
                        connections=cfg["connections"],
                        seconds=cfg["webhook_seconds"],
                        headers=headers,
                    )
                finally:
                    stop.set()
                    worker.join(30)
                    if endpoint is not None:
                        delete_endpoint(staff, endpoint)
                runs[name].append(result)
                print(f"  webhooks, {name}: {result['rps']} rps, p95 {result['p95_ms']} ms,"
                      f" errors {result['errors']}", flush=True)  # fmt: skip
    medians = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    out = {
        "runs": runs,
        "rps": {name: round(value, 1) for name, value in medians.items()},
        "ratio": round(medians["dead"] / medians["without"], 3) if medians["without"] else 0,
        "changes_made": changes.done,
        "errors": errors,
    }
    out["met"] = out["ratio"] >= 0.9 and errors == 0
    return out


def fig_webhooks(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    """Figure 10 (a and b) on a server of its own."""
    from bench.suite import ADMIN_EMAIL, ADMIN_PASSWORD
    from soak.servers import Server

    # Development mode: production takes only https endpoints, and the receivers here are plain
    # http on 127.0.0.1. Both halves of (b) run on this one server, so its ratio is unaffected.
    server_env = {**env, "ROSTER_WEBHOOK_ALLOW_PRIVATE": "1", "ROSTER_ENV": "development"}
    server = Server(server_env, workdir, "webhooks")
    try:
        server.wait_ready(time.monotonic() + 60)
        staff = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        background = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        client_id = summary["clients"]["Bench 25"]
        delivery = fig_delivery(staff, client_id, cfg)
        print(f"  webhooks: {delivery}", flush=True)
        dead = fig_dead_receiver(server.url, staff, background, client_id, cfg)
    finally:
        server.stop()
    return {"delivery": delivery, "dead_receiver": dead, "met": delivery["met"] and dead["met"]}


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    f = r.get("webhooks", {})
    if "error" in f:
        return [("10 webhooks", f["error"][:90], TARGETS["webhooks"], f)]
    if not f:
        return []
    d, dead = f["delivery"], f["dead_receiver"]
    return [
        (
            "10 webhooks",
            f"{d['received']}/{d['changes']} received (twice: {d['received_twice']}), "
            f"answer → receipt p50 {d['p50_ms']} / p95 {d['p95_ms']} / max {d['max_ms']} ms; "
            f"Users tab with a dead receiver {dead['ratio']:.3f}× ({dead['rps']['dead']} vs "
            f"{dead['rps']['without']} rps, errors {dead['errors']})",
            TARGETS["webhooks"],
            f,
        )
    ]


def main() -> int:
    from bench import suite

    return suite.figure_alone(
        "webhooks",
        fig_webhooks,
        rows,
        PROFILES,
        about="Figure 10 of the suite: webhooks.",
        out="webhooks.json",
        connections=True,
    )


if __name__ == "__main__":
    sys.exit(main())
