"""Page weight: what a first visit to the Users tab costs, and what the password meter costs.

Starts `roster serve` on a scratch SQLite database with the demo data (or uses --base-url, a
server holding the demo logins), then in headless Chromium (Playwright) with an empty cache:

- logs in as staff and loads a client's Users tab (/admin/clients/{id}/users), and as an owner
  /account/users; sums per type (HTML, CSS, JS, other) the bytes transferred (DevTools' count:
  headers and body as received, 0 from the cache) and the decoded bodies, then loads the page
  again (warm cache);
- refetches every resource with `Accept-Encoding: br`, then `gzip` only (Chromium asks for
  brotli from secure origins, 127.0.0.1 being one; some clients take gzip alone), and gzips the
  JS at level 9 (what gzip could make of it, whatever the server does);
- types two passwords into the register form's meter and times keystroke to label, counting the
  bytes it moved, without throttling and on DevTools' "Fast 3G" profile (keystroke to label
  includes the meter's 300 ms debounce, where there is one); if the server has
  `POST /password-strength`, times --checks requests to it, and the longest passwords;
- renders the invitation email at 360 px and reads its scrollWidth.

Prints one JSON document. Run: `.venv/bin/python -m bench.page_weight [--out FILE]`."""

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from soak.servers import answering, free_port

ROSTER = str(Path(sys.executable).parent / "roster")
STAFF = ("admin@example.com", "admin-demo-2026", "/admin/login")
OWNER = ("fiona@example.com", "roster-demo-2026", "/login")
DEMO_CLIENT = "Client Test"
# DevTools' "Fast 3G": 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up.
FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1_440_000 / 8,
    "uploadThroughput": 675_000 / 8,
}
KINDS = {"document": "html", "stylesheet": "css", "script": "js"}
WEAK, STRONG = "password", "Xq7#mP2v!kL9wZ4r-tundra"


def start_server(workdir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
        "ROSTER_SECRET_KEY": "page-weight",
        "ROSTER_ENV": "development",
        "ROSTER_BASE_URL": base_url,
    }
    env.pop("ROSTER_SMTP_URL", None)
    for command in ("migrate", "demo"):
        subprocess.run([ROSTER, command], env=env, cwd=workdir, check=True, capture_output=True)
    server = subprocess.Popen(
        [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if answering(base_url, server, time.monotonic() + 30):
        return server, base_url
    server.kill()
    raise SystemExit("roster serve did not start")


def kib(n: float) -> float:
    return round(n / 1024, 1)


def log_in(browser, base_url: str, who: tuple[str, str, str]) -> dict:
    """The cookies of a fresh login (a context of its own, so the next one starts cold)."""
    email, password, path = who
    context = browser.new_context()
    page = context.new_page()
    page.goto(base_url + path)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: not url.endswith(path))
    state = context.storage_state()
    context.close()
    return state


def client_id(base_url: str, state: dict) -> int:
    cookies = {c["name"]: c["value"] for c in state["cookies"]}
    answer = httpx.get(f"{base_url}/admin/clients", params={"q": DEMO_CLIENT}, cookies=cookies)
    return int(re.search(r"/admin/clients/(\d+)", answer.text).group(1))


class Recorder:
    """A page's responses (Playwright) and what each cost on the network: DevTools' own count
    (Network.loadingFinished's encodedDataLength: headers and body as received, 0 when the
    browser's cache answered)."""

    def __init__(self, context, page) -> None:
        self.responses: list = []
        self.network: dict = {}
        page.on("response", lambda response: self.responses.append(response))
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", self._received)
        cdp.on("Network.requestServedFromCache", self._from_cache)
        cdp.on("Network.loadingFinished", self._finished)

    def _entry(self, event) -> dict:
        return self.network.setdefault(event["requestId"], {"bytes": 0, "cache": False})

    def _received(self, event) -> None:
        entry = self._entry(event)
        entry["url"] = event["response"]["url"]
        entry["cache"] |= bool(event["response"].get("fromDiskCache"))

    def _from_cache(self, event) -> None:
        self._entry(event)["cache"] = True

    def _finished(self, event) -> None:
        self._entry(event)["bytes"] = int(event["encodedDataLength"])

    def cost(self, url: str) -> tuple[int, bool]:
        found = [e for e in self.network.values() if e.get("url") == url]
        return sum(e["bytes"] for e in found), any(e["cache"] for e in found)

    def clear(self) -> None:
        self.responses.clear()
        self.network.clear()


def tally(recorder: Recorder) -> dict:
    """Bytes per kind: transferred (headers and body as received) and decoded; each resource."""
    totals: dict = {}
    resources = []
    for response in recorder.responses:
        request = response.request
        kind = KINDS.get(request.resource_type, "other")
        try:
            decoded = len(response.body())
        except Exception:  # a redirect or a 304 has no body to read
            decoded = 0
        transferred, cached = recorder.cost(response.url)
        entry = totals.setdefault(kind, {"transferred": 0, "decoded": 0, "count": 0})
        entry["transferred"] += transferred
        entry["decoded"] += decoded
        entry["count"] += 1
        headers = response.all_headers()  # `headers` leaves out Set-Cookie
        resources.append(
            {
                "url": response.url,
                "kind": kind,
                "status": response.status,
                "from_cache": cached,
                "accept_encoding": request.all_headers().get("accept-encoding"),
                "encoding": headers.get("content-encoding", "identity"),
                "cache_control": headers.get("cache-control"),
                "set_cookie": "set-cookie" in headers,
                "transferred": transferred,
                "decoded": decoded,
            }
        )
    summary = {
        kind: {
            "transferred_kib": kib(v["transferred"]),
            "decoded_kib": kib(v["decoded"]),
            "count": v["count"],
        }
        for kind, v in sorted(totals.items())
    }
    summary["total_transferred_kib"] = kib(sum(v["transferred"] for v in totals.values()))
    summary["total_decoded_kib"] = kib(sum(v["decoded"] for v in totals.values()))
    return {"by_kind": summary, "resources": resources}


def encoded_sizes(resources: list, state: dict) -> dict:
    """Every resource fetched again asking for br, then for gzip; the JS also gzipped here at
    level 9 (what it would cost if the server compressed it)."""
    cookies = {c["name"]: c["value"] for c in state["cookies"]}
    out: dict = {}
    with httpx.Client(cookies=cookies, timeout=10) as client:
        for encoding in ("br", "gzip"):
            totals: dict = {}
            for resource in resources:
                if resource["status"] != 200:
                    continue
                headers = {"accept-encoding": encoding}
                with client.stream("GET", resource["url"], headers=headers) as answer:
                    raw = b"".join(answer.iter_raw())
                    body = len(raw)
                    head = sum(len(k) + len(v) + 4 for k, v in answer.headers.raw) + 17
                    used = answer.headers.get("content-encoding", "identity")
                kind = resource["kind"]
                totals[kind] = totals.get(kind, 0) + body + head
                totals.setdefault(f"{kind}_encodings", set()).add(used)
            out[encoding] = {
                k: sorted(v) if isinstance(v, set) else kib(v) for k, v in sorted(totals.items())
            }
            out[encoding]["total_kib"] = kib(
                sum(v for k, v in totals.items() if not isinstance(v, set))
            )
        js = b""
        for resource in resources:
            if resource["kind"] == "js" and resource["status"] == 200:
                js_body = client.get(resource["url"], headers={"accept-encoding": "identity"})
                js += js_body.content
        out["js_gzip9_kib"] = kib(len(gzip.compress(js, 9)))
        out["js_identity_kib"] = kib(len(js))
    return out


def load_twice(browser, url: str, state: dict) -> dict:
    """A first load with an empty cache, then the same page again (the cache warm)."""
    context = browser.new_context(storage_state=state)
    page = context.new_page()
    recorder = Recorder(context, page)
    page.goto(url, wait_until="networkidle")
    first = tally(recorder)
    recorder.clear()
    page.goto(url, wait_until="networkidle")
    again = tally(recorder)
    context.close()
    return {"first": first, "again": again["by_kind"], "again_resources": again["resources"]}


def meter_cost(browser, base_url: str, throttle: dict | None) -> dict:
    """Keystroke to label on the register form: the first check, then a second one; what each
    moved over the network (received: DevTools' count; sent: request headers and body)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/register", wait_until="networkidle")
    if throttle:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", throttle)
    recorder = Recorder(context, page)
    label = "#f-strength .strength-label"
    checks = []
    for password in (WEAK, STRONG):
        before = page.text_content(label)
        started = time.perf_counter()
        page.fill("#f-password", password)
        page.wait_for_function(
            "([sel, old]) => document.querySelector(sel).textContent !== old",
            arg=[label, before],
            timeout=60_000,
        )
        elapsed = round((time.perf_counter() - started) * 1000)
        page.wait_for_load_state("networkidle")
        sent = sum(
            max(r.request.sizes()["requestHeadersSize"], 0)
            + max(r.request.sizes()["requestBodySize"], 0)
            for r in recorder.responses
        )
        checks.append(
            {
                "ms": elapsed,
                "label": page.text_content(label),
                "received_bytes": sum(e["bytes"] for e in recorder.network.values()),
                "sent_bytes": sent,
                "requests": [r.url for r in recorder.responses],
            }
        )
        recorder.clear()
    context.close()
    return {"first_check": checks[0], "second_check": checks[1]}


def server_checks(base_url: str, count: int) -> dict | None:
    """POST /password-strength `count` times (half weak, half strong), then the longest
    passwords zxcvbn and the server take (72 and 256 characters): time and bytes."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.get("/register")
        token = client.cookies.get("roster_csrf")
        headers = {"x-csrftoken": token, "hx-request": "true", "accept-encoding": "br, gzip"}
        probe = client.post("/password-strength", data={"password": "x"}, headers=headers)
        if probe.status_code in (404, 405):
            return None

        def check(password: str) -> tuple[float, int]:
            started = time.perf_counter()
            with client.stream(
                "POST", "/password-strength", data={"password": password}, headers=headers
            ) as answer:
                raw = b"".join(answer.iter_raw())
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.status_code
            request = answer.request
            size = (
                len(request.content)
                + sum(len(k) + len(v) + 4 for k, v in request.headers.raw)
                + len(raw)
                + sum(len(k) + len(v) + 4 for k, v in answer.headers.raw)
            )
            return elapsed, size

        typical = [check((WEAK if i % 2 else STRONG) + str(i)) for i in range(count)]
        longest = {
            n: statistics.median(check((STRONG * 12)[:n])[0] for _ in range(10)) for n in (72, 256)
        }
    times = sorted(t for t, _ in typical)
    return {
        "checks": count,
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(count * 0.9) - 1], 2),
        "median_bytes_per_check": int(statistics.median(s for _, s in typical)),
        "median_ms_72_chars": round(longest[72], 2),
        "median_ms_256_chars": round(longest[256], 2),
    }


def email_width(browser) -> dict:
    from app.domain.mail.services import render_email

    _, _, html = render_email(
        "invitation",
        {
            "sender_name": "Fiona Ritterling",
            "account_name": "Client Test",
            "permission_labels": ["View & Pay Invoices", "View & Accept Quotes"],
            "accept_url": "http://127.0.0.1:8000/invite/" + "T" * 43,
            "sent_by_admin": False,
            "company": "Roster",
        },
    )
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.set_content(html)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.close()
    return {"viewport": 360, "scroll_width": width}


def measure(base_url: str, checks: int) -> dict:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        staff = log_in(browser, base_url, STAFF)
        owner = log_in(browser, base_url, OWNER)
        users_tab = f"{base_url}/admin/clients/{client_id(base_url, staff)}/users"
        staff_load = load_twice(browser, users_tab, staff)
        owner_load = load_twice(browser, f"{base_url}/account/users", owner)
        result = {
            "base_url": base_url,
            "users_tab": {
                "url": users_tab,
                "first_load": staff_load["first"]["by_kind"],
                "refetched": encoded_sizes(staff_load["first"]["resources"], staff),
                "repeat_load": staff_load["again"],
                "resources": staff_load["first"]["resources"],
                "repeat_resources": staff_load["again_resources"],
            },
            "account_users": {
                "first_load": owner_load["first"]["by_kind"],
                "refetched": encoded_sizes(owner_load["first"]["resources"], owner),
                "repeat_load": owner_load["again"],
            },
            "password_meter": {
                "browser": meter_cost(browser, base_url, None),
                "browser_fast_3g": meter_cost(browser, base_url, FAST_3G),
                "server": server_checks(base_url, checks),
            },
            "invitation_email": email_width(browser),
        }
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", help="a running server with the demo data")
    parser.add_argument("--checks", type=int, default=100, help="strength requests to time")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    server = None
    base_url = args.base_url
    if base_url is None:
        server, base_url = start_server(tempfile.mkdtemp(prefix="roster-page-weight-"))
    try:
        result = measure(base_url.rstrip("/"), args.checks)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
