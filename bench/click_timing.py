"""Click-to-update medians: two git revisions side by side.

For each revision (--after, default HEAD, and --before, e.g. 86b6fd1, the state before the
interface work) the committed tree is exported with `git archive` into a scratch directory
(the working tree and its uncommitted edits play no part) and served from there:
`python -m app migrate`, `demo`, `create-client` (an owner of its own, for Send Invite), then
`serve` on a scratch SQLite database, in development without SMTP (emails are only queued and
logged) and with ROSTER_RESEND_COOLDOWN_SECONDS=0 so Resend can be repeated. The venv's packages
serve both revisions; only the code (app/, frontend/, piccolo_conf.py) comes from the revision.

Then, in one headless Chromium (Playwright, /usr/bin/chromium), logged in as staff (demo admin
at /admin/login) and as the owner (at /login), each action is measured --runs times per revision
after --warmups unmeasured ones, the two revisions alternating run by run (so a busy moment of the
machine falls on both). Each measurement is taken in the page: a capture listener on window notes
performance.now() at the click (or at the `input` event of a search box) and a MutationObserver,
installed before, notes it again when the expected element is there and visible, so Playwright's
own latency is not counted. The actions (destructive ones are left out):

- resend: Resend Invite on the staff Users tab (/admin/clients/{id}/users) -> a new .flash saying
  "sent again" anywhere on the page (before: in #account-users, after: in #flash);
- open_permissions: Manage Permissions of a user -> the dialog open with its checkboxes;
- save_permissions: one box toggled, Save Permissions -> the dialog closed and the row redrawn;
- send_invite: Send Invite on /account/users as the owner (a new address each time) -> a new
  .flash saying "Invite sent";
- users_search: Manage Users (/admin/users), a query typed into "Search users" -> a new
  #user-results (the input's 300 ms debounce included);
- associate_search: Associate User dialog, a query typed into Select User -> its results listed
  (before: radio inputs, after: role=option items; the 250 ms debounce included).

Per action it also gives medians of: the time from htmx's request start (htmx:before:request)
to the update, which leaves the debounce out (from_request); from the answer read
(htmx:after:request, before the swap) to the update, the browser's own share (from_response);
click to the first change of the page after the answer (first_change: the swap, which may come
before the expected element, e.g. a message sent as an HX-Trigger event after it); click to the
next animation frame after the update, about when it is painted (to_next_frame).

Prints the JSON {revision: {action: {median_ms, p90_ms, n, ...}}} and a table with the
after/before ratio of the medians; --out also writes the JSON to a file.

Run: `.venv/bin/python -m bench.click_timing [--before 86b6fd1] [--after HEAD] [--runs 15]
[--warmups 2] [--out FILE] [--keep]` (--keep leaves the scratch trees and server logs in /tmp);
about 2 to 3 minutes with the defaults."""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.page_weight import STAFF, client_id, log_in
from soak.servers import answering, free_port

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
BASELINE = "86b6fd1"
BENCH_OWNER = ("bench-owner@example.com", "bench-owner-passphrase-2026", "/login")
ACTIONS = (
    "resend",
    "open_permissions",
    "save_permissions",
    "send_invite",
    "users_search",
    "associate_search",
)
TIMEOUT_MS = 15_000

# Installed in the page before each action; window.__bench then settles with the timings.
# spec: event ("click" | "input"), selector (the elements to wait for: those already there are
# old), text (the new element must contain it), inDialog (inside an open <dialog>), noDialog (no
# <dialog> open any more), timeout (ms).
ARM = """
(spec) => {
  const old = new WeakSet(document.querySelectorAll(spec.selector));
  let t0 = null, tRequest = null, tResponse = null, tChange = null;
  const onStart = () => { if (t0 === null) t0 = performance.now(); };
  const onRequest = () => { if (t0 !== null && tRequest === null) tRequest = performance.now(); };
  const onResponse = () => {
    if (tRequest !== null && tResponse === null) tResponse = performance.now();
  };
  window.addEventListener(spec.event, onStart, true);
  document.addEventListener("htmx:before:request", onRequest, true);
  document.addEventListener("htmx:after:request", onResponse, true);
  const shown = (el) => el.isConnected && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden";
  const met = () => {
    if (spec.noDialog && document.querySelector("dialog[open]")) return false;
    for (const el of document.querySelectorAll(spec.selector)) {
      if (old.has(el) || !shown(el)) continue;
      if (spec.inDialog && !el.closest("dialog[open]")) continue;
      if (spec.text && !el.textContent.includes(spec.text)) continue;
      return true;
    }
    return false;
  };
  window.__bench = new Promise((resolve) => {
    let observer = null, timer = null;
    const stop = () => {
      observer.disconnect();
      clearTimeout(timer);
      window.removeEventListener(spec.event, onStart, true);
      document.removeEventListener("htmx:before:request", onRequest, true);
      document.removeEventListener("htmx:after:request", onResponse, true);
    };
    observer = new MutationObserver(() => {
      if (tResponse !== null && tChange === null) tChange = performance.now();
      if (t0 === null || !met()) return;
      const t1 = performance.now();
      stop();
      requestAnimationFrame(() => resolve({
        ms: t1 - t0,
        request_ms: tRequest === null ? null : t1 - tRequest,
        response_ms: tResponse === null ? null : t1 - tResponse,
        change_ms: tChange === null ? null : tChange - t0,
        frame_ms: performance.now() - t0,
      }));
    });
    observer.observe(document.documentElement,
      { subtree: true, childList: true, attributes: true, characterData: true });
    timer = setTimeout(() => {
      stop();
      resolve({ error: t0 === null ? "no " + spec.event : "timeout" });
    }, spec.timeout);
  });
}
"""


# ---------------------------------------------------------------------------------------------
# A revision, served


class Served:
    """One revision's tree (git archive), its scratch database and its `serve` process."""

    def __init__(self, revision: str, label: str) -> None:
        self.revision = revision
        self.label = label
        self.sha = git("rev-parse", "--verify", f"{revision}^{{commit}}")
        self.short = git("rev-parse", "--short", self.sha)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"roster-click-{label}-"))
        self.src = self.workdir / "src"
        self.process: subprocess.Popen | None = None
        self.log = None
        self.base_url = ""
        self.env: dict = {}

    def roster(self, *args: str) -> str:
        """`roster ARGS` of this revision: `python -m app` run in its tree, which comes first on
        sys.path (before the venv's editable install of the working tree)."""
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env=self.env,
            cwd=self.src,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self) -> None:
        self.src.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", self.sha], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(self.src)], input=archive, check=True)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "ROSTER_DATABASE_URL": f"sqlite:///{self.workdir}/bench.sqlite3",
            "ROSTER_SECRET_KEY": f"click-timing-{self.label}",
            "ROSTER_ENV": "development",
            "ROSTER_BASE_URL": self.base_url,
            "ROSTER_RESEND_COOLDOWN_SECONDS": "0",
        }
        for name in ("ROSTER_SMTP_URL", "PYTHONPATH", "PICCOLO_CONF"):
            self.env.pop(name, None)
        served_from = subprocess.run(
            [
                sys.executable,
                "-c",
                "import app, piccolo_conf; print(app.__file__, piccolo_conf.__file__)",
            ],
            env=self.env,
            cwd=self.src,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        if not all(Path(f).resolve().is_relative_to(self.src.resolve()) for f in served_from):
            raise SystemExit(
                f"{self.label}: the code would come from {served_from}, not {self.src}"
            )
        self.roster("migrate")
        self.roster("demo")
        email, password, _ = BENCH_OWNER
        self.roster(
            "create-client",
            "--owner-email",
            email,
            "--owner-first",
            "Bench",
            "--owner-last",
            "Owner",
            "--owner-password",
            password,
            "--company",
            "Bench Invites",
        )
        self.log = open(self.workdir / "server.log", "w")  # noqa: SIM115 (open while it runs)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=self.env,
            cwd=self.src,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not answering(self.base_url, self.process, time.monotonic() + 30):
            raise SystemExit(f"{self.label}: roster serve did not start; see {self.log.name}")

    def stop(self, keep: bool) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.log is not None:
            self.log.close()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


# ---------------------------------------------------------------------------------------------
# The pages of one revision, and the actions on them


class Session:
    """One revision's logged-in pages: the staff Users tab (Resend, permissions), Manage Users,
    the Users tab again with Associate User open, and the owner's /account/users."""

    def __init__(self, browser, served: Served) -> None:
        self.served = served
        base = served.base_url
        staff_state = log_in(browser, base, STAFF)
        owner_state = log_in(browser, base, BENCH_OWNER)
        users_tab = f"{base}/admin/clients/{client_id(base, staff_state)}/users"
        viewport = {"width": 1280, "height": 900}
        self.staff = browser.new_context(storage_state=staff_state, viewport=viewport)
        self.owner = browser.new_context(storage_state=owner_state, viewport=viewport)
        self.tab = self.open(self.staff, users_tab)
        self.search = self.open(self.staff, f"{base}/admin/users")
        self.associate = self.open(self.staff, users_tab)
        self.account = self.open(self.owner, f"{base}/account/users")
        # The demo's pending invite and a user of the demo client who is not its owner (Jo).
        self.invite_row = self.tab.eval_on_selector(
            "tr[id^=invite-]:has(button[hx-post$='/resend'])", "el => el.id"
        )
        self.user_row = self.tab.evaluate(
            """() => [...document.querySelectorAll("tr[id^=user-]")]
                 .find(tr => tr.textContent.includes("jo@example.com")).id"""
        )
        self.associate.click("[data-dialog-open=associate-user]")
        self.associate.wait_for_selector("#associate-query", state="visible")
        self.sent = 0
        self.turn = 0

    @staticmethod
    def open(context, url: str):
        page = context.new_page()
        page.goto(url, wait_until="networkidle")
        return page

    def timed(self, page, spec: dict, act) -> dict:
        """Arms the page, acts (a Playwright click or fill), waits for the page's own timing."""
        page.bring_to_front()
        page.evaluate("() => document.querySelectorAll('.flash').forEach(el => el.remove())")
        page.evaluate(ARM, {"timeout": TIMEOUT_MS, **spec})
        act()
        result = page.evaluate("() => window.__bench")
        # Let the request's tail (focus, settling) finish before the next run.
        page.wait_for_function("() => !document.querySelector('.htmx-request')", timeout=TIMEOUT_MS)
        page.wait_for_timeout(50)
        return result

    def run(self, action: str) -> list[tuple[str, dict]]:
        """One run of an action (the permissions dialog gives two: open, then save)."""
        self.turn += 1
        if action == "resend":
            page = self.tab
            button = f"#{self.invite_row} button[hx-post$='/resend']"
            spec = {"event": "click", "selector": ".flash", "text": "sent again"}
            return [("resend", self.timed(page, spec, lambda: page.click(button)))]
        if action == "permissions":
            page = self.tab
            row = self.user_row
            opener = f"#{row} button[hx-get$='/permissions']"
            spec = {"event": "click", "selector": "#perm-dialog input[type=checkbox]"}
            opened = self.timed(page, {**spec, "inDialog": True}, lambda: page.click(opener))
            # The same box each time, on then off: the user keeps the demo's other permissions.
            page.click("#perm-dialog input[type=checkbox][value=quotes]")
            spec = {"event": "click", "selector": f"tr#{row}", "noDialog": True}
            saved = self.timed(page, spec, lambda: page.click("#perm-form button[type=submit]"))
            return [("open_permissions", opened), ("save_permissions", saved)]
        if action == "send_invite":
            page = self.account
            self.sent += 1
            page.fill("#invite-email", f"invitee-{self.sent}@example.com")
            spec = {"event": "click", "selector": ".flash", "text": "Invite sent"}
            return [
                (
                    "send_invite",
                    self.timed(page, spec, lambda: page.click("#invite-form button[type=submit]")),
                )
            ]
        if action == "users_search":
            page = self.search
            query = ("fiona", "marco")[self.turn % 2]
            spec = {"event": "input", "selector": "#user-results"}
            typed = self.timed(page, spec, lambda: page.fill("#user-search", query))
            return [("users_search", typed)]
        if action == "associate_search":
            page = self.associate
            query = ("lena", "okafor")[self.turn % 2]
            # Before: radio inputs; after: the combobox's options.
            found = "#associate-results input[type=radio], #associate-results [role=option]"
            spec = {"event": "input", "selector": found}
            typed = self.timed(page, spec, lambda: page.fill("#associate-query", query))
            return [("associate_search", typed)]
        raise ValueError(action)

    def close(self) -> None:
        self.staff.close()
        self.owner.close()


# ---------------------------------------------------------------------------------------------
# Figures


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def summary(samples: list[dict]) -> dict:
    done = [s for s in samples if "ms" in s]
    out: dict = {"n": len(done)}
    if done:
        ms = [s["ms"] for s in done]
        out["median_ms"] = round(statistics.median(ms), 1)
        out["p90_ms"] = round(nearest_rank(ms, 0.9), 1)
        requests = [s["request_ms"] for s in done if s["request_ms"] is not None]
        if requests:
            out["from_request_median_ms"] = round(statistics.median(requests), 1)
        for key, name in (
            ("response_ms", "from_response_median_ms"),
            ("change_ms", "first_change_median_ms"),
        ):
            values = [s[key] for s in done if s[key] is not None]
            if values:
                out[name] = round(statistics.median(values), 1)
        out["to_next_frame_median_ms"] = round(statistics.median(s["frame_ms"] for s in done), 1)
        out["samples_ms"] = [round(v, 1) for v in ms]
    failed = [s.get("error", "?") for s in samples if "ms" not in s]
    if failed:
        out["failures"] = failed
    return out


def table(result: dict, before: str, after: str) -> str:
    lines = [
        f"{'action':<18} {'before ms':>10} {'after ms':>10} {'after/before':>13}"
        f" {'p90 b/a':>9} {'request->UI b/a':>16} {'answer->UI b/a':>15}",
        f"{'':<18} {before:>10} {after:>10}",
    ]
    for action in ACTIONS:
        b, a = result[before].get(action, {}), result[after].get(action, {})
        if "median_ms" not in b or "median_ms" not in a:
            lines.append(f"{action:<18} {'-':>10} {'-':>10}")
            continue
        ratio = a["median_ms"] / b["median_ms"] if b["median_ms"] else float("nan")
        p90, request, answer = (
            f"{b.get(key, float('nan')):.0f}/{a.get(key, float('nan')):.0f}"
            for key in ("p90_ms", "from_request_median_ms", "from_response_median_ms")
        )
        lines.append(
            f"{action:<18} {b['median_ms']:>10.1f} {a['median_ms']:>10.1f} {ratio:>13.2f}"
            f" {p90:>9} {request:>16} {answer:>15}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def measure(servers: list[Served], runs: int, warmups: int) -> dict:
    samples: dict = {s.short: {a: [] for a in ACTIONS} for s in servers}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else None,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        sessions = [Session(browser, s) for s in servers]
        loops = ("resend", "permissions", "send_invite", "users_search", "associate_search")
        for loop in loops:
            for i in range(warmups + runs):
                # Alternate which revision goes first, run by run.
                order = sessions if i % 2 == 0 else sessions[::-1]
                for session in order:
                    for action, sample in session.run(loop):
                        if i >= warmups:
                            samples[session.served.short][action].append(sample)
                        elif "error" in sample:
                            name = session.served.short
                            print(f"warm-up {name} {action}: {sample}", file=sys.stderr)
        for session in sessions:
            session.close()
        browser.close()
    return {rev: {a: summary(s) for a, s in found.items()} for rev, found in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--before",
        default=BASELINE,
        help=f"the baseline revision ({BASELINE}: before the interface work)",
    )
    parser.add_argument("--after", default="HEAD", help="the revision to compare (HEAD)")
    parser.add_argument("--runs", type=int, default=15, help="measured runs per action (15)")
    parser.add_argument("--warmups", type=int, default=2, help="unmeasured runs first (2)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch trees and logs")
    args = parser.parse_args()
    servers = [Served(args.before, "before"), Served(args.after, "after")]
    if servers[0].short == servers[1].short:
        raise SystemExit("--before and --after name the same commit")
    started = time.monotonic()
    try:
        for served in servers:
            served.start()
        result = measure(servers, args.runs, args.warmups)
    finally:
        for served in servers:
            served.stop(args.keep)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    before, after = servers[0].short, servers[1].short
    print(
        f"\nclick to update, median of {args.runs} runs after {args.warmups} warm-ups"
        f" (before {args.before} = {before}, after {args.after} = {after};"
        f" {time.monotonic() - started:.0f} s in all)"
    )
    print(table(result, before, after))


if __name__ == "__main__":
    main()
