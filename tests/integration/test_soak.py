"""A short soak (soak.soak, the code `make soak` runs): 500 mixed operations by 20 concurrent
clients over two `roster serve` processes on a database of its own, with a real SMTP server."""

import os

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("ROSTER_TEST_ENGINE", "sqlite") != "postgres",
    reason="the soak runs two server processes on one PostgreSQL database "
    "(run with ROSTER_TEST_ENGINE=postgres and ROSTER_TEST_POSTGRES_URL)",
)

OPERATIONS = 500
CLIENTS = 20
TIME_LIMIT = 600  # seconds; about 130 on 2 busy CPUs


async def test_soak_of_500_operations():
    from soak.soak import run_soak

    report = await run_soak(
        operations=OPERATIONS,
        clients=CLIENTS,
        server_url=os.environ["ROSTER_TEST_POSTGRES_URL"],
        time_limit=TIME_LIMIT,
    )
    print(report.summary())
    assert report.operations == OPERATIONS
    timed = report.stats.operation_times
    assert sum(map(len, timed.values())) + len(report.stats.transport_errors) == OPERATIONS
    assert "operation latency: p50" in report.summary()
    assert report.stats.server_errors == []
    assert report.stats.transport_errors == []
    assert report.violations == []
    assert report.emails["delivered_more_than_once"] == 0
    assert report.emails["duplicate_message_ids"] == 0
    assert report.emails["unsent"] == 0
    assert report.emails["delivered_once"] == report.emails["sent"] > 0
    assert report.failures() == [], report.summary()
