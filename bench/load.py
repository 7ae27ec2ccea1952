"""Closed-loop HTTP load on 127.0.0.1 for a bounded time: `wrk` when it is installed (Debian's
package; `make bench` installs it where it can), else a small asyncio HTTP/1.1 keep-alive client
run in a process of its own (`python -m bench.load URL --connections 32 --seconds 10`), weaker
than wrk but the same for the app and the baseline. Both report requests, requests/s, p50/p95/p99
latency (ms) and errors."""

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCHJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p95_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"errors_status\\": %d, \\"errors_socket\\": %d, \\"bytes\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.bytes))
end
"""


# Requests that do not repeat: `init` reads "PATH COOKIE" lines from the file named by the first
# argument after `--` and starts at the line the second names; each request is the next line.
WRK_REQUESTS = """
local requests, at = {}, 0
init = function(args)
  for line in io.lines(args[1]) do
    local path, cookie = line:match("^(%S+) ?(.*)$")
    local headers = {}
    if cookie ~= "" then headers["Cookie"] = cookie end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  at = tonumber(args[2])
end
request = function()
  at = at + 1
  return requests[(at - 1) % #requests + 1]
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _result(requests: int, seconds: float, p50, p95, p99, errors: int, tool: str) -> dict:
    return {
        "tool": tool,
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(p99, 2),
        "errors": errors,
    }


def run(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict,
    tool: str = "auto",
    requests: tuple[Path, int] | None = None,
) -> dict:
    """Load on `url` for `seconds` with `connections` connections; the caller bounds the time
    (wrk stops itself; the Python client is killed 30 s after its deadline at the latest).
    `requests` (a file of "PATH COOKIE" lines, the line to start at): each request is the
    file's next line, on `url`'s host, instead of `url` again and again."""
    if tool == "auto":
        tool = "wrk" if wrk_path() else "python"
    if tool == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT + (WRK_REQUESTS if requests else ""))
        command = [
            wrk_path() or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        after = ["--", str(requests[0]), str(requests[1])] if requests else []
        output = subprocess.run(
            [*command, url, *after], capture_output=True, text=True, timeout=seconds + 60
        ).stdout
        Path(script.name).unlink()
        line = next((x for x in output.splitlines() if x.startswith("BENCHJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result:\n{output}")
        d = json.loads(line.removeprefix("BENCHJSON "))
        return _result(
            d["requests"],
            d["duration_us"] / 1e6,
            d["p50_us"] / 1000,
            d["p95_us"] / 1000,
            d["p99_us"] / 1000,
            d["errors_status"] + d["errors_socket"],
            "wrk",
        )
    command = [
        sys.executable,
        "-m",
        "bench.load",
        url,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        "--headers",
        json.dumps(headers),
    ]
    if requests:
        command += ["--requests", str(requests[0]), "--start", str(requests[1])]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if output.returncode != 0:
        raise RuntimeError(f"the Python load generator failed:\n{output.stderr}")
    return json.loads(output.stdout.splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# The Python client (run in its own process by `run`)


async def _connection(host, port, next_request, deadline: float, latencies: list, errors: list):
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(next_request())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    raise RuntimeError("chunked answers are not supported")
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status >= 400:
                errors.append(status)
            if close:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def _percentile(values: list, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _request(netloc: str, path: str, headers: dict) -> bytes:
    lines = [f"GET {path or '/'} HTTP/1.1", f"Host: {netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _python_load(
    url: str, connections: int, seconds: float, headers: dict, requests: tuple | None = None
) -> dict:
    parts = urlsplit(url)
    if requests:
        lines, at = requests
        cycle = []
        for line in lines:
            path, _, cookie = line.partition(" ")
            cycle.append(
                _request(parts.netloc, path, {**headers, **({"cookie": cookie} if cookie else {})})
            )

        def next_request() -> bytes:
            nonlocal at
            at += 1
            return cycle[(at - 1) % len(cycle)]
    else:
        request = _request(
            parts.netloc, parts.path + (f"?{parts.query}" if parts.query else ""), headers
        )

        def next_request() -> bytes:
            return request

    latencies: list = []
    errors: list = []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(parts.hostname, parts.port or 80, next_request, deadline, latencies, errors)
            for _ in range(connections)
        )
    )
    elapsed = time.monotonic() - started
    return _result(
        len(latencies),
        elapsed,
        _percentile(latencies, 50),
        _percentile(latencies, 95),
        _percentile(latencies, 99),
        len(errors),
        "python",
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--headers", default="{}")
    p.add_argument("--requests", type=Path, help='a file of "PATH COOKIE" lines, asked in turn')
    p.add_argument("--start", type=int, default=0, help="the line of --requests to start at")
    args = p.parse_args()
    requests = (args.requests.read_text().splitlines(), args.start) if args.requests else None
    result = asyncio.run(
        _python_load(args.url, args.connections, args.seconds, json.loads(args.headers), requests)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
