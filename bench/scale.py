"""Figures 8 and 9 of the benchmark suite, on PostgreSQL only: how live
updates and `roster serve --workers` hold up.

8. live-update latency: two `roster serve` processes, A and B, on one database (production mode,
   one worker each, the default heartbeat). On A, `live_streams` (500) Server-Sent Event streams
   are opened by staff sessions logged in for the purpose (at most 8 streams per session, the
   per-process cap): `live_watchers` (20) watch "Bench 25"'s Users tab, the rest watch the other
   accounts' Users tabs (three quarters), the clients list and the outbox. Then `live_changes`
   changes (quick: 20) are made through B over HTTP, one at a time with a random pause of
   0.1–0.5 s (longer when needed for the changes to last past the streams' first heartbeat, whose
   session re-checks come in one burst since the streams were opened together, as after a
   restart; one change is sent in the middle of that burst): a full admin sets the permissions
   of one "Bench 25" member (POST
   /admin/clients/{id}/users/{user}/permissions as htmx sends it), alternating two sets. For
   each change and each watcher: the time from just before the POST is sent to the watcher's
   `event: roster:changed` line arriving; for `live_refetch` (3) watchers per change, in turn,
   the time until every region the page's script re-fetches on that event has arrived (read
   from the page as app.js reads it: the ids its [data-live-regions] names, each re-fetched from
   its data-live-src, e.g. `?part=people…`, when the event's data names one of its
   data-live-kinds or it has none; at once, with HX-Request: true and that watcher's session):
   the update visible in a second browser. The people list must be among them and differ from
   the previous change's (a fragment of before the change is "stale"). Beside:
   the time to the NOTIFY reaching a LISTEN connection of this process (B's request up to its
   commit, plus PostgreSQL's delivery), and the POST's answer time. The streams of other accounts
   must hear nothing; those of the clients list and the outbox are counted too (a permission
   change concerns neither). Target: p95 of the visible update ≤ 1000 ms.
9. workers: the request of figure 1 ("Bench 25"'s Users tab as a logged-in full admin, wrk or
   bench/load.py at --connections) against `roster serve --workers 1` and `--workers 2`, both
   running on the same database, runs interleaved (the order alternating), --reps each: median
   and spread of requests/s and p95, the ratio of the medians (2 / 1). For each run the CPU
   seconds of the server's processes (the serve parent and every descendant, /proc/PID/stat),
   of the load generator (this process's reaped children, getrusage), of the PostgreSQL backends
   connected to the scratch database (pg_stat_activity's pids) and of the whole machine
   (/proc/stat; "other" is what none of those used: other work on a shared machine), per
   request and as cores used, since the load generator and PostgreSQL share the cores. From the
   CPU per request, the ratio an otherwise idle machine would allow: one worker gets at most one
   core, two share all of them with PostgreSQL and the load generator. Target ≥ 1.7×.

Run by bench/suite.py on PostgreSQL, or alone (its own scratch database, data and admin):

    .venv/bin/python -m bench.scale --postgres postgresql://postgres@127.0.0.1:5432/test [--quick]
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import httpx

from bench import data, load
from bench.sessions import Session, staff_login
from bench.suite import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    REPO,
    bench_env,
    cpu_seconds,
    percentile,
    revision,
    roster,
    say,
    scratch_database,
    spread,
)
from bench.suite import (
    PROFILES as SUITE_PROFILES,
)
from soak.servers import MailSink, Server

TARGETS = {
    "live_latency": "visible update p95 ≤ 1000 ms at 500 streams; no other account's stream told",
    "workers": "≥ 1.7× (2 workers / 1)",
}

PROFILES = {
    "full": {
        "live_streams": 500,
        "live_watchers": 20,
        "live_changes": 60,
        "live_refetch": 3,
        "live_cap": 300,  # seconds for the changes, at most
        "workers_reps": None,  # None: the suite's --reps
    },
    "quick": {
        "live_streams": 500,
        "live_watchers": 20,
        "live_changes": 20,
        "live_refetch": 3,
        "live_cap": 120,
        "workers_reps": None,
    },
}

NOISY_CORES = 0.25  # other work on the machine (median cores) beyond which figure 9 is noisy
STREAMS_PER_SESSION = 8  # app.http.live.streams' cap, per session and process
CHANNEL = "roster_live"  # app.domain.live.news.CHANNEL
WARMUP_CHANGES = 2
EVENT_WAIT = 10.0  # seconds a change's events may take before they count as missed
QUIET = 2.0  # seconds after the last change in which no stray event may come


def ms_summary(values) -> dict:
    values = list(values)
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
    }


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc


def _stat_fields(pid: int) -> list[str]:
    # after the command (which may hold spaces and parentheses): state, ppid, …
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """`root` and every process descending from it, by walking /proc's parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of each live process of the tree under `root`."""
    out = {}
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[pid] = cpu_seconds(pid)
    return out


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the database at `url` now (the
    servers' pools; not other databases' backends, nor the server's background processes)."""
    import asyncpg

    async def ask() -> list[int]:
        con = await asyncpg.connect(url)
        try:
            rows = await con.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [row["pid"] for row in rows]
        finally:
            await con.close()

    out = {}
    for pid in asyncio.run(ask()):
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[pid] = cpu_seconds(pid)
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """Seconds used between the two readings by the processes alive at the second (a process
    that started in between counts from zero)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def machine_cpu() -> dict[str, float]:
    """Seconds of all cores since boot, from /proc/stat: busy (user, nice, system, irq, softirq),
    idle (idle, iowait) and steal (taken by the hypervisor for other guests)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return {
        "busy": (user + nice + system + irq + softirq) / tick,
        "idle": (idle + iowait) / tick,
        "steal": steal / tick,
    }


def reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------
# 8. Live-update latency


class SseStream:
    """One live stream held open on a raw connection (no client library between the socket
    and the clock): the times at which it said `event: roster:changed`."""

    def __init__(self, index: int, kind: str, path: str, cookie: str) -> None:
        self.index, self.kind, self.path, self.cookie = index, kind, path, cookie
        self.status = 0
        self.events: list[float] = []
        self.heartbeats: list[float] = []  # the session re-checks (every 25 s by default)
        self.ended = False
        self.connected_at = 0.0
        self.on_event = None
        self._writer = None
        self._task = None

    async def open(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Cookie: {self.cookie}\r\nHX-Request: true\r\n"
                "Accept: text/html, text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        self.status = int(head.split(b" ", 2)[1])
        if self.status != 200:
            writer.close()
            self.ended = True
            return
        while True:  # the stream's first words: ": connected"
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                raise RuntimeError(f"{self.path} ended before it said it was connected")
            if line.startswith(b": connected"):
                self.connected_at = time.perf_counter()
                break
        self._task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        pending = None  # when the event line of a message not yet complete arrived
        data = ""
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"event: roster:changed"):
                    pending, data = time.perf_counter(), ""
                    self.events.append(pending)
                elif pending is not None and line.startswith(b"data:"):
                    data = line[5:].strip().decode()
                elif pending is not None and not line.strip():  # the message's end
                    if self.on_event is not None:
                        self.on_event(self, pending, data or "all")
                    pending = None
                elif line.startswith(b": heartbeat"):
                    self.heartbeats.append(time.perf_counter())
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.ended = True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()


TAG = re.compile(r"<[a-z][^>]*>", re.IGNORECASE)
ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')


def live_regions(html: str) -> dict[str, dict]:
    """The regions a page's script re-fetches on its stream's events (app.js): the ids its
    [data-live-regions] element names, each with its data-live-src and data-live-kinds."""
    named, regions = [], {}
    for tag in TAG.findall(html):
        if "data-live-" not in tag:
            continue
        attributes = {k: unescape(v) for k, v in ATTRIBUTE.findall(tag)}
        if "data-live-regions" in attributes and not named:
            named = attributes["data-live-regions"].split()
        if "data-live-src" in attributes and "id" in attributes:
            kinds = attributes.get("data-live-kinds", "").split()
            regions[attributes["id"]] = {"src": attributes["data-live-src"], "kinds": kinds}
    return {name: regions[name] for name in named if name in regions}


def concerned(region: dict, data: str) -> bool:
    """Whether an event whose data is `data` (kinds of change, space-separated) makes the page
    re-fetch `region`, as app.js decides: a region without kinds on any event."""
    kinds = data.split()
    return not region["kinds"] or "all" in kinds or any(k in kinds for k in region["kinds"])


MEMBER = re.compile(r"/admin/clients/\d+/users/(\d+)/permissions")


def stream_plan(cfg: dict, watched: int, others: list[int]) -> list[tuple[str, str]]:
    """(kind, path) of every stream: the watchers, then the rest: three quarters on the other
    accounts' Users tabs (in turn), an eighth each on the clients list and the outbox."""
    total, watchers = cfg["live_streams"], cfg["live_watchers"]
    rest = total - watchers
    lists = rest // 8
    plan = [("watched", f"/live/admin/clients/{watched}/users")] * watchers
    plan += [("clients", "/live/admin/clients")] * lists
    plan += [("mail", "/live/admin/mail")] * lists
    for n in range(rest - 2 * lists):
        plan.append(("other", f"/live/admin/clients/{others[n % len(others)]}/users"))
    return plan


def fig_live_latency(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    cfg = {**PROFILES["full"], **cfg}
    clients = summary["clients"]
    watched = clients["Bench 25"]
    others = [cid for name, cid in clients.items() if cid != watched]
    plan = stream_plan(cfg, watched, others)
    sessions_needed = math.ceil(len(plan) / STREAMS_PER_SESSION)
    a = Server(env, workdir, "live-a")
    b = Server(env, workdir, "live-b")
    viewers: list[Session] = []
    try:
        deadline = time.monotonic() + 60
        a.wait_ready(deadline)
        b.wait_ready(deadline)
        started = time.monotonic()
        changer = staff_login(b.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        for _ in range(sessions_needed):
            viewers.append(staff_login(a.url, ADMIN_EMAIL, ADMIN_PASSWORD))
        login_seconds = time.monotonic() - started
        tab = viewers[0].get(f"/admin/clients/{watched}/users")
        if tab.status_code != 200:
            raise RuntimeError(f"the Users tab answered {tab.status_code}")
        regions = live_regions(tab.text)
        members = [int(m) for m in dict.fromkeys(MEMBER.findall(tab.text))]
        if "account-people" not in regions or not members:
            raise RuntimeError("the Users tab has no live people region or no member to change")
        target_user = members[-1]
        # A change on another account at the end shows that those streams do hear their own.
        control = None
        if "Bench 1000" in clients:
            page = viewers[0].get(f"/admin/clients/{clients['Bench 1000']}/users")
            control_members = MEMBER.findall(page.text)
            if control_members:
                control = (clients["Bench 1000"], int(control_members[-1]))
        out = asyncio.run(
            _live(a, b, plan, viewers, changer, regions, watched, target_user, env, cfg, control)
        )
        out["login_seconds"] = round(login_seconds, 1)
        out["sessions"] = len(viewers)
        out["changed_user"] = target_user
        return out
    finally:
        for session in viewers:
            session.close()
        b.stop()
        a.stop()


async def _live(
    a, b, plan, viewers, changer, regions, watched, target_user, env, cfg, control
) -> dict:
    import asyncpg

    from app.core.permissions import ALL_KEYS

    rng = random.Random(12)
    a_port = int(a.url.rsplit(":", 1)[1])
    # Each session holds at most 8 streams; the slots are shuffled so that the watchers are
    # spread over many sessions.
    slots = list(range(len(plan)))
    rng.shuffle(slots)
    streams = [
        SseStream(i, kind, path, viewers[slot // STREAMS_PER_SESSION].cookies.header())
        for i, ((kind, path), slot) in enumerate(zip(plan, slots, strict=True))
    ]
    watchers = [s for s in streams if s.kind == "watched"]

    # The NOTIFYs, as any listener of the channel hears them (A's listener does the same).
    notified: list[tuple[float, str]] = []
    listener = await asyncpg.connect(env["ROSTER_DATABASE_URL"])
    await listener.add_listener(
        CHANNEL, lambda _c, _p, _ch, payload: notified.append((time.perf_counter(), payload))
    )
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    fetcher = httpx.AsyncClient(base_url=a.url, timeout=30, limits=limits)
    poster = httpx.AsyncClient(base_url=b.url, timeout=30)
    a_cpu_before = None
    try:
        opened_at = time.monotonic()
        gate = asyncio.Semaphore(20)

        async def open_one(stream: SseStream) -> None:
            async with gate:
                await stream.open(a_port)

        await asyncio.gather(*(open_one(s) for s in streams))
        open_seconds = time.monotonic() - opened_at
        refused = [s.status for s in streams if s.status != 200]
        if refused:
            raise RuntimeError(f"{len(refused)} streams refused: {sorted(set(refused))}")

        async def fetch(path: str, cookie: str) -> tuple[httpx.Response, float]:
            answer = await fetcher.get(path, headers={"cookie": cookie, "hx-request": "true"})
            fetcher.cookies.clear()
            return answer, time.perf_counter()

        people_path = regions["account-people"]["src"]
        change: dict = {"active": False}

        async def refetch(stream: SseStream, t0: float, k: int, data: str) -> None:
            """What the page does on the event: every region it concerns, fetched at once."""
            names = [name for name, region in regions.items() if concerned(region, data)]
            answers = await asyncio.gather(
                *(fetch(regions[name]["src"], stream.cookie) for name in names)
            )
            got = dict(zip(names, answers, strict=True))
            people = got.get("account-people")
            change["fetched"].append(
                {
                    "regions": names,
                    "data": data,
                    "visible_ms": (max(t for _, t in answers) - t0) * 1000 if answers else None,
                    "people_ms": (people[1] - t0) * 1000 if people else None,
                    "statuses": [a.status_code for a, _ in answers],
                    "people": people[0].text if people else None,
                    "change": k,
                }
            )

        def on_event(stream: SseStream, when: float, data: str) -> None:
            if not change["active"] or stream.kind != "watched" or stream.index in change["got"]:
                return
            change["got"][stream.index] = when
            change["data"].add(data)
            if stream.index in change["fetchers"]:
                change["tasks"].append(
                    asyncio.create_task(refetch(stream, change["t0"], change["k"], data))
                )
            if len(change["got"]) == len(watchers):
                change["all_in"].set()

        for stream in watchers:
            stream.on_event = on_event

        post_headers = {
            "cookie": changer.cookies.header(),
            "x-csrftoken": changer.cookies.values.get("roster_csrf", ""),
            "hx-request": "true",
        }
        path = f"/admin/clients/{watched}/users/{target_user}/permissions"
        keysets = [list(ALL_KEYS[:1]), list(ALL_KEYS[:2])]

        async def post(keys: list[str], path: str = path) -> httpx.Response:
            answer = await poster.post(path, data={"permissions": keys}, headers=post_headers)
            poster.cookies.clear()
            return answer

        # Every key first (untimed): the alternating sets below then always change something.
        setup = await post(list(ALL_KEYS))
        if setup.status_code != 200:
            raise RuntimeError(f"the permissions POST answered {setup.status_code}")
        await asyncio.sleep(1.0)
        previous_people = (await fetch(people_path, viewers[0].cookies.header()))[0].text

        records = []
        measured_from = None
        deadline = time.monotonic() + cfg["live_cap"]
        a_cpu_before = cpu_seconds(a.process.pid)
        # A's CPU, sampled every 0.25 s: where its busy moments fall (the heartbeat burst)
        a_samples: list[tuple[float, float]] = []

        async def sample_a() -> None:
            while True:
                a_samples.append((time.perf_counter(), cpu_seconds(a.process.pid)))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample_a())
        total = WARMUP_CHANGES + cfg["live_changes"]
        # The streams were opened together (as after a restart, when every browser reconnects at
        # once), so their session re-checks come in one burst per heartbeat: the changes are
        # spread until a little past the first, so that it falls among them. The pauses stay
        # 0.1–0.5 s when the changes take that long anyway (60 of them do).
        heartbeat = float(env.get("ROSTER_LIVE_HEARTBEAT_SECONDS") or 25)
        until = opened_at + heartbeat + open_seconds + 3
        mean_pause = max(0.3, (until - time.monotonic()) / total - 0.06)
        # One change is sent in the middle of that burst (the watchers' heartbeats are put off by
        # every event, so the burst is the other streams').
        first_connected = min(s.connected_at for s in streams)
        burst_at = (
            statistics.median(s.connected_at for s in streams if s.kind != "watched") + heartbeat
        )
        aimed = None
        for k in range(total):
            if time.monotonic() > deadline:
                break
            fetchers = {
                watchers[(k * cfg["live_refetch"] + j) % len(watchers)].index
                for j in range(cfg["live_refetch"])
            }
            change.update(
                active=True, k=k, got={}, fetchers=fetchers, tasks=[], fetched=[],
                all_in=asyncio.Event(), data=set(),
            )  # fmt: skip
            t0 = time.perf_counter()
            change["t0"] = t0
            if k == WARMUP_CHANGES:
                measured_from = t0
            answer = await post(keysets[k % 2])
            post_ms = (time.perf_counter() - t0) * 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(change["all_in"].wait(), EVENT_WAIT)
            change["active"] = False
            if change["tasks"]:
                await asyncio.wait_for(asyncio.gather(*change["tasks"]), 30)
            notify = next(
                (
                    t
                    for t, payload in notified
                    if t >= t0
                    and f"account:{watched}" in (i.split("#")[0] for i in payload.split())
                ),
                None,
            )
            # The member's permissions show in the people list: it must be re-fetched, and new.
            stale = unshown = 0
            for fetched in change["fetched"]:
                if fetched["people"] is None:
                    unshown += 1
                elif fetched["people"] == previous_people:
                    stale += 1
            shown = [f["people"] for f in change["fetched"] if f["people"] is not None]
            if shown:
                previous_people = shown[-1]
            records.append(
                {
                    "k": k,
                    "at_s": round(t0 - first_connected, 2),  # since the first stream opened
                    "warmup": k < WARMUP_CHANGES,
                    "post_status": answer.status_code,
                    "post_ms": round(post_ms, 1),
                    "notify_ms": round((notify - t0) * 1000, 1) if notify else None,
                    "event_ms": [round((t - t0) * 1000, 1) for t in change["got"].values()],
                    "missed": len(watchers) - len(change["got"]),
                    "event_data": sorted(change["data"]),
                    "regions_fetched": sorted({r for f in change["fetched"] for r in f["regions"]}),
                    "visible_ms": [
                        round(f["visible_ms"], 1) for f in change["fetched"] if f["visible_ms"]
                    ],
                    "people_ms": [
                        round(f["people_ms"], 1) for f in change["fetched"] if f["people_ms"]
                    ],
                    "refetch_statuses": [st for f in change["fetched"] for st in f["statuses"]],
                    "stale": stale,
                    "people_not_refetched": unshown,
                    # session re-checks on A while this change was on its way (they come in
                    # bursts: the streams were opened together)
                    "heartbeats": sum(
                        1 for s in streams for t in s.heartbeats if t0 <= t <= time.perf_counter()
                    ),
                }
            )
            pause = rng.uniform(0.1, 2 * mean_pause - 0.1)
            now = time.perf_counter()
            if aimed is None and k + 1 >= WARMUP_CHANGES and now < burst_at <= now + pause + 1:
                pause, aimed = burst_at - now, k + 1
            await asyncio.sleep(pause)
        a_cpu = cpu_seconds(a.process.pid) - a_cpu_before
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await asyncio.sleep(QUIET)
        ended_at = time.perf_counter()
        ended_early = sum(1 for s in streams if s.ended)
        firsts = [s.heartbeats[0] for s in streams if s.heartbeats]
        # (the watchers' heartbeats are put off by every event: theirs come later)
        burst_seconds = max(firsts) - min(firsts) if firsts else None
        burst_from = round(min(firsts) - first_connected, 2) if firsts else None
        # A's busiest second (cores), and its median second, from the samples
        per_second = [
            ((c2 - c1) / (t2 - t1), t1 - first_connected)
            for (t1, c1), (t2, c2) in zip(a_samples, a_samples[4:], strict=False)
        ]
        a_busiest = max(per_second) if per_second else None
        a_median = statistics.median(c for c, _ in per_second) if per_second else None
        control_result = None
        if control is not None:
            control_id, control_user = control
            control_path = f"/admin/clients/{control_id}/users/{control_user}/permissions"
            control_streams = [s for s in streams if s.path.split("/")[4:5] == [str(control_id)]]
            started = time.perf_counter()
            for keys in (list(ALL_KEYS[:1]), list(ALL_KEYS)):  # one of them changes something
                await post(keys, control_path)
            for _ in range(100):  # 5 s at most
                if all(any(t >= started for t in s.events) for s in control_streams):
                    break
                await asyncio.sleep(0.05)
            control_result = {
                "account": control_id,
                "streams": len(control_streams),
                "told": sum(1 for s in control_streams if any(t >= started for t in s.events)),
            }
    finally:
        await asyncio.gather(*(s.close() for s in streams))
        await fetcher.aclose()
        await poster.aclose()
        with contextlib.suppress(Exception):
            await listener.close()

    measured = [r for r in records if not r["warmup"]]
    if not measured or measured_from is None:
        raise RuntimeError("no change was measured")

    def heard(kind: str) -> int:
        return sum(
            1 for s in streams if s.kind == kind for t in s.events if measured_from <= t <= ended_at
        )

    events = [ms for r in measured for ms in r["event_ms"]]
    visible = [ms for r in measured for ms in r["visible_ms"]]
    people = [ms for r in measured for ms in r["people_ms"]]
    notify = [r["notify_ms"] for r in measured if r["notify_ms"] is not None]
    # A's share: from the NOTIFY's delivery to the event line read here, per watcher.
    after_notify = [
        ms - r["notify_ms"] for r in measured if r["notify_ms"] is not None for ms in r["event_ms"]
    ]
    fan_out = [max(r["event_ms"]) - min(r["event_ms"]) for r in measured if r["event_ms"]]
    refetch_only = [
        v - min(r["event_ms"]) for r in measured if r["event_ms"] for v in r["visible_ms"]
    ]
    watcher_events = heard("watched")
    expected = len(measured) * len(watchers)
    bad_refetch = sum(1 for r in measured for st in r["refetch_statuses"] if st != 200)
    bad_posts = sum(1 for r in measured if r["post_status"] != 200)
    out = {
        "streams": {
            "total": len(streams),
            "watched": len(watchers),
            "other_accounts": sum(1 for s in streams if s.kind == "other"),
            "other_account_ids": sorted(
                {int(s.path.split("/")[4]) for s in streams if s.kind == "other"}
            ),
            "clients_list": sum(1 for s in streams if s.kind == "clients"),
            "outbox": sum(1 for s in streams if s.kind == "mail"),
            "open_seconds": round(open_seconds, 1),
            "ended_early": ended_early,
        },
        "change": "a full admin sets a Bench 25 member's permissions through B "
        "(POST …/users/{id}/permissions, htmx), alternating two sets",
        "changes": len(measured),
        "asked": cfg["live_changes"],
        "capped": len(measured) < cfg["live_changes"],
        "warmup_changes": WARMUP_CHANGES,
        "refetch_per_change": cfg["live_refetch"],
        "pause_seconds": [0.1, round(2 * mean_pause - 0.1, 2)],
        "change_sent_at_heartbeat_burst": aimed,
        "heartbeat_burst_seconds": round(burst_seconds, 2) if burst_seconds else None,
        "heartbeat_burst_from_s": burst_from,  # since the first stream opened
        "server_a_busiest_second": {
            "cores": round(a_busiest[0], 2),
            "from_s": round(a_busiest[1], 2),  # since the first stream opened
        }
        if a_busiest
        else None,
        "server_a_median_second_cores": round(a_median, 2) if a_median is not None else None,
        "event_ms": ms_summary(events),
        "visible_ms": ms_summary(visible),
        "people_fragment_ms": ms_summary(people),
        "notify_ms": ms_summary(notify),
        "event_after_notify_ms": ms_summary(after_notify),
        "fan_out_ms": ms_summary(fan_out),
        "refetch_after_first_event_ms": ms_summary(refetch_only),
        "post_ms": ms_summary(r["post_ms"] for r in measured),
        "events_expected": expected,
        "events_received": len(events),
        "watcher_events_total": watcher_events,
        "missed": sum(r["missed"] for r in measured),
        "other_account_events": heard("other"),
        "clients_list_events": heard("clients"),
        "outbox_events": heard("mail"),
        "stale_fragments": sum(r["stale"] for r in measured),
        "people_not_refetched": sum(r["people_not_refetched"] for r in measured),
        "event_data": sorted({d for r in measured for d in r["event_data"]}),
        "regions_fetched": sorted({g for r in measured for g in r["regions_fetched"]}),
        "refetch_errors": bad_refetch,
        "post_errors": bad_posts,
        "server_a_cpu_seconds": round(a_cpu, 2),
        "heartbeats_during_changes": sum(
            1 for s in streams for t in s.heartbeats if measured_from <= t <= ended_at
        ),
        "visible_ms_with_heartbeats": ms_summary(
            ms for r in measured if r["heartbeats"] for ms in r["visible_ms"]
        ),
        "control": control_result,
        "per_change": records,
    }
    out["met"] = (
        out["visible_ms"]["p95"] is not None
        and out["visible_ms"]["p95"] <= 1000
        and out["other_account_events"] == 0
        and out["missed"] == 0
        and out["stale_fragments"] == 0
        and out["people_not_refetched"] == 0
        and bad_refetch == 0
        and bad_posts == 0
        and out["streams"]["ended_early"] == 0
        and (control_result is None or control_result["told"] == control_result["streams"])
        and not out["capped"]
    )
    return out


# ---------------------------------------------------------------------------------------------
# 9. Workers


def fig_workers(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    cfg = {**PROFILES["full"], **cfg}
    reps = cfg.get("workers_reps") or cfg["reps"]
    url = env["ROSTER_DATABASE_URL"]
    path = f"/admin/clients/{summary['clients']['Bench 25']}/users"
    servers = {
        "1": Server(env, workdir, "workers-1", ["--workers", "1"]),
        "2": Server(env, workdir, "workers-2", ["--workers", "2"]),
    }
    try:
        deadline = time.monotonic() + 90
        for server in servers.values():
            server.wait_ready(deadline)
        staff = staff_login(servers["1"].url, ADMIN_EMAIL, ADMIN_PASSWORD)
        headers = {"cookie": staff.cookies.header()}
        processes = {name: len(process_tree(s.process.pid)) for name, s in servers.items()}
        pages = {name: staff.get(f"{s.url}{path}") for name, s in servers.items()}
        bad = {name: p.status_code for name, p in pages.items() if p.status_code != 200}
        if bad:
            raise RuntimeError(f"the Users tab answered {bad}")
        for server in servers.values():  # warm-up, not counted
            load.run(f"{server.url}{path}", connections=cfg["connections"],
                     seconds=cfg["warmup"], headers=headers)  # fmt: skip
        runs: dict = {"1": [], "2": []}
        for rep in range(reps):
            for name in ["1", "2"] if rep % 2 == 0 else ["2", "1"]:
                server = servers[name]
                pid = server.process.pid
                before = tree_cpu(pid), reaped_children_cpu(), backends_cpu(url), machine_cpu()
                wall = time.monotonic()
                result = load.run(f"{server.url}{path}", connections=cfg["connections"],
                                  seconds=cfg["seconds"], headers=headers)  # fmt: skip
                wall = time.monotonic() - wall
                after = tree_cpu(pid), reaped_children_cpu(), backends_cpu(url), machine_cpu()
                per_process = {p: round(v - before[0].get(p, 0.0), 2) for p, v in after[0].items()}
                server_s = cpu_delta(before[0], after[0])
                loadgen_s = after[1] - before[1]
                postgres_s = cpu_delta(before[2], after[2])
                busy_s = after[3]["busy"] - before[3]["busy"]
                steal_s = after[3]["steal"] - before[3]["steal"]
                n = result["requests"] or 1
                result.update(
                    {
                        "wall_seconds": round(wall, 2),
                        "server_cpu_seconds": round(server_s, 2),
                        "server_cpu_by_process": {str(p): v for p, v in per_process.items()},
                        "loadgen_cpu_seconds": round(loadgen_s, 2),
                        "postgres_cpu_seconds": round(postgres_s, 2),
                        "machine_busy_seconds": round(busy_s, 2),
                        "machine_steal_seconds": round(steal_s, 2),
                        "cpu_ms_per_request": round(server_s / n * 1000, 3),
                        "loadgen_cpu_ms_per_request": round(loadgen_s / n * 1000, 3),
                        "postgres_cpu_ms_per_request": round(postgres_s / n * 1000, 3),
                        "machine_busy_ms_per_request": round(busy_s / n * 1000, 3),
                        "own_cpu_ms_per_request": round(
                            (server_s + loadgen_s + postgres_s) / n * 1000, 3
                        ),
                        "cores_used": {
                            "server": round(server_s / wall, 2),
                            "loadgen": round(loadgen_s / wall, 2),
                            "postgres": round(postgres_s / wall, 2),
                            "machine_busy": round(busy_s / wall, 2),
                            # everything else on the machine (other work, this process)
                            "other": round(
                                max(0.0, busy_s - server_s - loadgen_s - postgres_s) / wall, 2
                            ),
                            "steal": round(steal_s / wall, 2),
                        },
                    }
                )
                runs[name].append(result)
                say(
                    f"  --workers {name}: {result['rps']} rps, p95 {result['p95_ms']} ms, "
                    f"server {result['cores_used']['server']} cores "
                    f"({result['cpu_ms_per_request']} ms/req), load generator "
                    f"{result['cores_used']['loadgen']}, postgres "
                    f"{result['cores_used']['postgres']}, other "
                    f"{result['cores_used']['other']}, machine busy "
                    f"{result['cores_used']['machine_busy']} of {os.cpu_count()}, steal "
                    f"{result['cores_used']['steal']}, errors {result['errors']}"
                )
        staff.close()
    finally:
        for server in servers.values():
            server.stop()
    out: dict = {
        "connections": cfg["connections"],
        "reps": reps,
        "seconds": cfg["seconds"],
        "cpus": os.cpu_count(),
        "server_processes": processes,  # the serve parent and its descendants
        "runs": runs,
    }
    for name in ("1", "2"):
        rs = runs[name]
        out[f"workers_{name}"] = {
            "rps": spread(r["rps"] for r in rs),
            "p95_ms": spread(r["p95_ms"] for r in rs),
            "cpu_ms_per_request": spread(r["cpu_ms_per_request"] for r in rs),
            "cores_used": {
                k: round(statistics.median(r["cores_used"][k] for r in rs), 2)
                for k in ("server", "loadgen", "postgres", "other", "machine_busy", "steal")
            },
            "machine_busy_ms_per_request": round(
                statistics.median(r["machine_busy_ms_per_request"] for r in rs), 3
            ),
            "own_cpu_ms_per_request": round(
                statistics.median(r["own_cpu_ms_per_request"] for r in rs), 3
            ),
            "errors": sum(r["errors"] for r in rs),
        }
    w1, w2 = out["workers_1"], out["workers_2"]
    out["ratio"] = round(w2["rps"]["median"] / w1["rps"]["median"], 3)
    out["ratio_per_rep"] = spread(
        b["rps"] / a["rps"] for a, b in zip(runs["1"], runs["2"], strict=True)
    )
    # What the cores allow on an otherwise idle machine, from the CPU each request costs (robust
    # to noise, unlike requests/s): one worker is one process, so at most one core of server
    # time, 1000 / server ms per request; two workers share the cores with PostgreSQL and the load
    # generator, at most cores × 1000 / (server + PostgreSQL + load generator ms per request).
    cores = os.cpu_count()
    one_bound = 1000 / w1["cpu_ms_per_request"]["median"]
    two_bound = min(2 * 1000 / w2["cpu_ms_per_request"]["median"],
                    cores * 1000 / w2["own_cpu_ms_per_request"])  # fmt: skip
    out["idle_machine_bound"] = {
        "workers_1_rps": round(one_bound, 1),
        "workers_2_rps": round(two_bound, 1),
        "ratio": round(two_bound / one_bound, 2),
    }
    out["tool"] = runs["1"][0]["tool"]
    out["met"] = out["ratio"] >= 1.7 and w1["errors"] == 0 and w2["errors"] == 0
    # Other work on the machine takes more from one worker (one process among the runnable ones)
    # than from two, which inflates the ratio: beyond a quarter of a core, the verdict is noisy.
    out["other_cores"] = max(w1["cores_used"]["other"], w2["cores_used"]["other"])
    out["noisy"] = out["other_cores"] > NOISY_CORES
    return out


# ---------------------------------------------------------------------------------------------
# The table's rows (bench/suite.py prints them with the others)


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    out = []
    f = r.get("live_latency")
    if f is not None:
        if "error" in f:
            out.append(("8 live update, 500 streams", f["error"][:90], TARGETS["live_latency"], f))
        else:
            v, e, n = f["visible_ms"], f["event_ms"], f["notify_ms"]
            out.append(
                (
                    f"8 live update, {f['streams']['total']} streams on A, change on B",
                    f"visible p50 {v['p50']} / p95 {v['p95']} / max {v['max']} ms (n={v['n']}); "
                    f"event p50 {e['p50']} / p95 {e['p95']} / max {e['max']} ms "
                    f"({f['events_received']}/{f['events_expected']} events, "
                    f"{f['changes']} changes); NOTIFY p50 {n['p50']} ms; other accounts' "
                    f"streams told {f['other_account_events']}, stale {f['stale_fragments']}"
                    + (
                        f"; changes met by the heartbeat burst: visible max "
                        f"{f['visible_ms_with_heartbeats']['max']} ms"
                        if f.get("visible_ms_with_heartbeats", {}).get("n")
                        else ""
                    )
                    + (
                        f"; control: {f['control']['told']}/{f['control']['streams']} streams "
                        "of Bench 1000 told of a change there"
                        if f.get("control")
                        else ""
                    ),
                    TARGETS["live_latency"],
                    f,
                )
            )
    f = r.get("workers")
    if f is not None:
        if "error" in f:
            out.append(("9 --workers 2 vs 1", f["error"][:90], TARGETS["workers"], f))
        else:
            w1, w2 = f["workers_1"], f["workers_2"]
            out.append(
                (
                    "9 Users tab rps, --workers 2 vs 1",
                    f"{f['ratio']:.2f}× ({w2['rps']['median']:.0f} vs {w1['rps']['median']:.0f} "
                    f"rps; 2: {w2['rps']['min']:.0f}–{w2['rps']['max']:.0f}, 1: "
                    f"{w1['rps']['min']:.0f}–{w1['rps']['max']:.0f}); p95 "
                    f"{w2['p95_ms']['median']:.0f} vs {w1['p95_ms']['median']:.0f} ms; server "
                    f"CPU/req {w2['cpu_ms_per_request']['median']:.2f} vs "
                    f"{w1['cpu_ms_per_request']['median']:.2f} ms; cores server/loadgen/pg/other "
                    f"{w2['cores_used']['server']}/{w2['cores_used']['loadgen']}/"
                    f"{w2['cores_used']['postgres']}/{w2['cores_used']['other']} vs "
                    f"{w1['cores_used']['server']}/{w1['cores_used']['loadgen']}/"
                    f"{w1['cores_used']['postgres']}/{w1['cores_used']['other']} "
                    f"of {f['cpus']}; {f['cpus']} idle cores would allow ≤ "
                    f"{f['idle_machine_bound']['ratio']}×"
                    + (
                        f" (NOISY: other work used {f['other_cores']} cores)"
                        if f.get("noisy")
                        else ""
                    ),
                    TARGETS["workers"],
                    f,
                )
            )
    return out


def run_figures(results: dict, env: dict, workdir: Path, summary: dict, cfg: dict, guarded):
    """Figures 8 and 9 into `results` (bench/suite.py's `guarded` records a failure)."""
    guarded(results, "live_latency", fig_live_latency, env, workdir, summary, cfg)
    guarded(results, "workers", fig_workers, env, workdir, summary, cfg)


NOT_MEASURED = (
    "figures 8 (live-update latency) and 9 (--workers 2 vs 1) are PostgreSQL only: "
    "not measured ({why})"
)
NO_URL = "no --postgres URL and no ROSTER_TEST_POSTGRES_URL"


# ---------------------------------------------------------------------------------------------
# Alone


def main() -> int:
    from bench import suite

    p = argparse.ArgumentParser(description="Figures 8 and 9 of the suite (PostgreSQL only).")
    p.add_argument("--quick", action="store_true", help="fewer changes, shorter runs")
    p.add_argument("--postgres", default=os.environ.get("ROSTER_TEST_POSTGRES_URL") or None)
    p.add_argument("--users", type=int, help="users generated (default: the suite's profile)")
    p.add_argument("--reps", type=int)
    p.add_argument("--seconds", type=float, help="length of one throughput run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--changes", type=int, help="live changes measured")
    p.add_argument("--only", choices=("live", "workers"))
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    args = p.parse_args()
    if not args.postgres:
        print(NOT_MEASURED.format(why=NO_URL).replace("figures", "Figures", 1) + ".")
        return 2
    profile = "quick" if args.quick else "full"
    cfg = {**SUITE_PROFILES[profile], **PROFILES[profile], "connections": args.connections}
    for key in ("users", "reps", "seconds"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.changes is not None:
        cfg["live_changes"] = args.changes
    results = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "config": cfg,
        "revision": revision(),
        "machine": {"cpus": os.cpu_count()},
        "load_tool": "wrk" if load.wrk_path() else "python (bench/load.py)",
        "targets": TARGETS,
        "engines": {},
    }
    r: dict = {"revision_at_start": revision()}
    workdir = Path(tempfile.mkdtemp(prefix="roster-bench-scale-"))
    started = time.monotonic()
    try:
        with scratch_database("postgresql", args.postgres, workdir) as (url, _name):
            env = bench_env(url)
            say(f"postgresql: migrate, {cfg['users']:,} users")
            roster(env, "migrate")
            summary = data.generate(url, cfg["users"])
            roster(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD,
                   "--name", "Bench Admin")  # fmt: skip
            r["data"] = summary
            sink = MailSink().start()
            try:
                server_env = {**env, "ROSTER_SMTP_URL": sink.url}
                if args.only != "workers":
                    suite.guarded(r, "live_latency", fig_live_latency, server_env, workdir,
                                  summary, cfg)  # fmt: skip
                if args.only != "live":
                    suite.guarded(r, "workers", fig_workers, server_env, workdir, summary, cfg)
            finally:
                sink.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    r["seconds"] = round(time.monotonic() - started, 1)
    r["revision_at_end"] = revision()
    results["engines"]["postgresql"] = r
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(suite.table(results))
    if r["revision_at_start"] != r["revision_at_end"]:
        print(f"\nThe code changed during the run ({r['revision_at_start']} -> "
              f"{r['revision_at_end']}): run it again.")  # fmt: skip
    print(f"\nJSON: {args.out} (revision {results['revision']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
