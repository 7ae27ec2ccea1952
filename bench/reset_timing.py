"""Does a password-reset request take longer for an address that has an account?

Starts `roster serve` on a scratch SQLite database, creates one user, then sends PAIRS pairs of
requests (known address, unknown address; the order alternates) to 127.0.0.1 and prints the
median time of each and the median of the per-pair differences. Run: `make reset-timing`."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from soak.servers import answering, free_port

ROSTER = str(Path(sys.executable).parent / "roster")
KNOWN = "known.person@example.com"


def start_server(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [ROSTER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if answering(f"http://127.0.0.1:{port}", server, time.monotonic() + 30):
        return server
    server.kill()
    raise SystemExit("roster serve did not start")


def timed_post(client: httpx.Client, email: str) -> float:
    client.get("/password/reset")
    started = time.perf_counter()
    answer = client.post(
        "/password/reset",
        data={"email": email},
        headers={"x-csrftoken": client.cookies.get("roster_csrf")},
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.status_code
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=40)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="roster-reset-timing-")
    port = free_port()
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": f"sqlite:///{workdir}/timing.sqlite3",
        "ROSTER_SECRET_KEY": "timing",
        "ROSTER_ENV": "development",
    }
    env.pop("ROSTER_SMTP_URL", None)
    subprocess.run([ROSTER, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [ROSTER, "create-client", "--owner-email", KNOWN, "--owner-first", "Known"]
        + ["--owner-last", "Person", "--owner-password", "a-timing-passphrase-1"],
        env=env,
        check=True,
        capture_output=True,
    )
    server = start_server(env, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(5):  # warm up both paths
                timed_post(client, KNOWN)
                timed_post(client, "warm.up@example.com")
            known, unknown = [], []
            for i in range(args.pairs):
                order = [(known, KNOWN), (unknown, f"nobody{i}@example.com")]
                for times, email in order if i % 2 == 0 else reversed(order):
                    times.append(timed_post(client, email))
    finally:
        server.terminate()
        server.wait(timeout=10)
    differences = [k - u for k, u in zip(known, unknown, strict=True)]
    print(f"pairs: {args.pairs}")
    print(f"known address:   median {statistics.median(known):.2f} ms")
    print(f"unknown address: median {statistics.median(unknown):.2f} ms")
    print(f"median difference (known - unknown): {statistics.median(differences):+.2f} ms")
    faster = sum(k < statistics.median(unknown) for k in known)
    print(f"known faster than the unknown median: {faster} of {len(known)}")


if __name__ == "__main__":
    main()
