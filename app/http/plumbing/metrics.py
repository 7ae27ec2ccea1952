"""Prometheus metrics: `measured` counts and times every HTTP request by its route template;
`exposition` is the text format that `GET /metrics` (app.http.metrics) answers.

Labels never hold a raw path: `route` is the matched route's template
(`/admin/clients/{client_id:int}/users`), `/static` for static files, `unmatched` when no route
matched (404, 405), so the number of series stays bounded whatever is requested.

With PROMETHEUS_MULTIPROC_DIR set (before prometheus_client is first imported: `roster serve
--workers N` sets it for its workers), every process writes its values to files there and a
scrape, answered by any one worker, sums them (prometheus_client's MultiProcessCollector)."""

import os
import time

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
STATIC_PREFIX = "/static"
LIVE_PREFIX = "/live/"  # Server-Sent Events: open for hours, so kept out of the histogram
UNMATCHED = "unmatched"
# Any other method (a client may send any token) is counted as "other": bounded labels.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# No `_created` series: the text format makes each one a series of its own, a timestamp nobody
# reads (and multiprocess mode has none, so both modes export the same series).
disable_created_metrics()

# From 5 ms (a cached fragment) to 10 s (far past any answer the app should give).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "roster_http_requests_total",
    "HTTP requests answered, by method, route template and status (counted when the answer "
    "starts).",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "roster_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template "
    "(live-update streams excluded).",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
LIVE_STREAMS = Gauge(
    "roster_live_streams",
    "Live-update streams open now (summed over the processes still running).",
    multiprocess_mode="livesum",
)
# Set at scrape time by whichever process answers: across processes the most recent value is
# the truth ("max" would keep another worker's older, higher count after emails were sent).
OUTBOX = Gauge(
    "roster_outbox_emails",
    "Emails in the outbox, by status (counted when scraped).",
    ["status"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERIES = Gauge(
    "roster_webhook_deliveries",
    "Webhook deliveries, by status: queued and delivering are the queue (counted when scraped).",
    ["status"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_OLDEST_WAITING = Gauge(
    "roster_webhook_oldest_undelivered_seconds",
    "How long the oldest webhook delivery not delivered yet has waited (0: none waits).",
    multiprocess_mode="mostrecent",
)

KEPT_LOOKUPS = Counter(
    "roster_kept_lookups_total",
    "Lookups in what a process keeps of its renders (cache: answers, sections), by result "
    "(hit, miss): how often real traffic is answered from memory.",
    ["cache", "result"],
)

# labels() takes a lock and builds a tuple on every call: each child is looked up once.
_counters: dict[tuple[str, str, str], Counter] = {}
_histograms: dict[tuple[str, str], Histogram] = {}


def _count(method: str, route: str, status: int) -> None:
    key = (method, route, str(status))
    child = _counters.get(key)
    if child is None:
        child = _counters[key] = REQUESTS.labels(*key)
    child.inc()


def _observe(method: str, route: str, seconds: float) -> None:
    key = (method, route)
    child = _histograms.get(key)
    if child is None:
        child = _histograms[key] = DURATION.labels(*key)
    child.observe(seconds)


def route_of(path: str, scope) -> str:
    """The label for a request: never the raw path (see the module's docstring). `path` is the
    path as it arrived (Litestar rewrites scope["path"] for mounted static files)."""
    if path == STATIC_PREFIX or path.startswith(STATIC_PREFIX + "/"):
        return STATIC_PREFIX
    # Set by Litestar's router once a route matched (litestar/_asgi/asgi_router.py), on this
    # same scope dict; absent when routing failed (404, 405).
    return scope.get("path_template") or UNMATCHED


def measured(handler):
    """An ASGI handler: `handler`, with each HTTP request counted in REQUESTS (when its answer
    starts) and timed in DURATION (when it ends; not for /live/ streams). Put it where it sees
    the scope Litestar routes (no copy of the scope in between), so that the template is there."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await handler(scope, receive, send)
        started = time.perf_counter()
        path = scope["path"]
        method = scope["method"]
        if method not in METHODS:
            method = "other"
        status = 0

        async def counting_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _count(method, route_of(path, scope), status)
            await send(message)

        try:
            await handler(scope, receive, counting_send)
        finally:
            route = route_of(path, scope)
            if not status:  # no answer started: the server answers 500 (or nobody is there)
                _count(method, route, 500)
            if not path.startswith(LIVE_PREFIX):
                _observe(method, route, time.perf_counter() - started)

    return app


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def exposition() -> bytes:
    """The text format of every metric: this process's, or with PROMETHEUS_MULTIPROC_DIR set,
    all the processes' (a fresh registry per scrape, as prometheus_client's docs say)."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
