"""Figure 13 of the benchmark suite: pages rendered afresh, against the bare stack.

    .venv/bin/python -m bench.fresh [--quick] [--engine sqlite|postgresql] [--postgres URL]
                                    [--users N] [--profile DIR]

The traffic of many staff members on many accounts, where nothing a process kept answers: the
staff Users tab and the owner's User Management of the crowd's accounts (bench/data.py: `crowd`
accounts of 5 to 45 users and up to 3 pending invitations, each owner signed in), each request
the next account of a shuffled list, so an account comes round again only after the whole list,
later than anything is kept (app.http.shared.account_users.SECTION_CACHE_TTL). The server's own
count of what it answered from memory (roster_kept_lookups_total, read from /metrics before and
after each run) is reported: the figure holds only while it stays at no hits.

Against bench/bare.py answering the bytes of one of those pages to the same requests (the same
paths and cookies), under the same uvicorn settings; runs interleaved, the order alternating,
`fresh_reps` each; the ratio of the median requests/s and the server CPU per request.
Target: ≥ 0.25× bare on both pages."""

import random
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.sessions import Session, staff_login
from soak.servers import Server

PROFILES = {
    "full": {"crowd": 10_000, "fresh_seconds": 10, "fresh_warmup": 3, "fresh_reps": 3},
    "quick": {"crowd": 5_000, "fresh_seconds": 4, "fresh_warmup": 2, "fresh_reps": 3},
}
TARGET_RATIO = 0.25
TARGETS = {"fresh_page": f"≥ {TARGET_RATIO}× bare, nothing kept answering"}
PAGES = ("users_tab", "user_management")


def kept_lookups(staff: Session) -> dict[str, float]:
    """{"sections hit": n, …} from the server's /metrics (roster_kept_lookups_total)."""
    text = staff.get("/metrics", headers={"accept": "text/plain"}).text
    return {
        f"{sample.labels['cache']} {sample.labels['result']}": sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "roster_kept_lookups"
        for sample in family.samples
        if sample.name == "roster_kept_lookups_total"
    }


def request_lines(summary: dict, staff: Session, seed: int) -> dict[str, list[str]]:
    """Per page, "PATH COOKIE" lines over the crowd's accounts in one shuffled order."""
    crowd = list(summary["crowd"])
    random.Random(seed).shuffle(crowd)
    staff_cookie = staff.cookies.header()
    return {
        "users_tab": [f"/admin/clients/{c[0]}/users {staff_cookie}" for c in crowd],
        "user_management": [f"/account/users roster_session={c[2]}" for c in crowd],
    }


def compare(
    page: str, server: Server, staff: Session, lines: list[str], cfg: dict, workdir: Path
) -> dict:
    from bench import suite

    requests_file = workdir / f"{page}.requests"
    requests_file.write_text("\n".join(lines) + "\n")
    path, _, cookie = lines[0].partition(" ")
    first = Session(server.url).http.get(path, headers={"cookie": cookie})
    if first.status_code != 200:
        raise RuntimeError(f"{page} answered {first.status_code}")
    at = 1  # the next line of the list to ask for (the first was asked above)
    runs: dict = {"app": [], "bare": []}
    kept: dict[str, float] = {}  # "sections hit": n, … over the measured runs
    with suite.bare_server(first.content, workdir, f"bare-{page}") as (bare_pid, bare_url):
        targets = {"app": (server.process.pid, server.url), "bare": (bare_pid, bare_url)}
        for rep in range(-1, cfg["fresh_reps"]):  # -1: the warm-up, not counted
            order = ("app", "bare") if rep % 2 == 0 else ("bare", "app")
            for name in order:
                pid, base = targets[name]
                seconds = cfg["fresh_warmup"] if rep < 0 else cfg["fresh_seconds"]
                before = kept_lookups(staff) if name == "app" else {}
                result = suite.timed_run(
                    pid, base + path, cfg, seconds, profile=name == "app" and rep == 0,
                    label=f"{page} {name}", headers={},
                    requests=(requests_file, at if name == "app" else 0),
                )  # fmt: skip
                if name == "app":
                    # past the requests still in flight when the run ended, which it asked
                    # but did not count
                    at += result["requests"] + cfg["connections"]
                    for key, n in kept_lookups(staff).items():
                        if rep >= 0:
                            kept[key] = kept.get(key, 0.0) + n - before.get(key, 0.0)
                if rep >= 0:
                    runs[name].append(result)
    out: dict = {"page_bytes": len(first.content), "accounts": len(lines), "asked": at}
    out |= suite.against_bare(runs)
    hits = sum(n for key, n in kept.items() if key.endswith(" hit"))
    misses = sum(n for key, n in kept.items() if key.endswith(" miss"))
    out["kept_lookups"] = {"hit": hits, "miss": misses}
    out["kept_lookups_by_cache"] = kept
    out["kept_hit_share"] = round(hits / max(1.0, hits + misses), 4)
    out["met"] = (
        out["ratio"] >= TARGET_RATIO and out["app"]["errors"] == 0 and out["kept_hit_share"] <= 0.01
    )
    return out


def fig_fresh_page(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    from bench import suite

    if not summary.get("crowd"):
        raise RuntimeError("the data has no crowd of accounts (bench.data.generate's crowd)")
    server = Server(env, workdir, "fresh")
    try:
        server.wait_ready(time.monotonic() + 60)
        staff = staff_login(server.url, suite.ADMIN_EMAIL, suite.ADMIN_PASSWORD)
        lines = request_lines(summary, staff, summary.get("seed", 13))
        out = {page: compare(page, server, staff, lines[page], cfg, workdir) for page in PAGES}
    finally:
        server.stop()
    out["met"] = all(out[page]["met"] for page in PAGES)
    return out


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    f = r.get("fresh_page", {})
    if "error" in f:
        return [("13 fresh pages vs bare", f["error"][:90], TARGETS["fresh_page"], f)]
    out = []
    for page in PAGES:
        p = f.get(page)
        if not p:
            continue
        lookups = p["kept_lookups"]["hit"] + p["kept_lookups"]["miss"]
        out.append(
            (
                f"13 fresh {page.replace('_', ' ')} vs bare",
                f"{p['ratio']:.3f}× ({p['app']['rps']['median']:.0f} vs "
                f"{p['bare']['rps']['median']:.0f} rps; app {p['app']['rps']['min']:.0f}–"
                f"{p['app']['rps']['max']:.0f}); p95 {p['app']['p95_ms']['median']:.0f} ms; "
                f"CPU/req {p['app']['cpu_ms_per_request']['median']:.2f} vs "
                f"{p['bare']['cpu_ms_per_request']['median']:.2f} ms; kept hits "
                f"{p['kept_hit_share']:.1%} of {lookups:.0f}",
                TARGETS["fresh_page"],
                p,
            )
        )
    return out


def main() -> int:
    from bench import suite

    return suite.figure_alone(
        "fresh_page",
        fig_fresh_page,
        rows,
        PROFILES,
        about="Figure 13 of the suite: pages rendered afresh, against the bare stack.",
        out="fresh.json",
        connections=True,
    )


if __name__ == "__main__":
    sys.exit(main())
