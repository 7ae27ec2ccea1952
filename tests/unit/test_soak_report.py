"""The soak run's report of operation latency (soak.soak.operation_lines)."""

from soak.soak import operation_lines


def test_each_kind_of_operation_gets_its_p50_p95_p99_and_all_together_a_verdict():
    times = {"invite": [0.1] * 90 + [0.5] * 10, "login": [0.2] * 19 + [2.0]}
    first, *kinds = operation_lines(times)
    assert first.startswith("operation latency: p50 100 ms, p95 500 ms, p99 500 ms (120)")
    assert first.endswith("target p95 <= 1000 ms: met")
    assert kinds == [
        "  invite            p50 100 ms, p95 500 ms, p99 500 ms (100)",
        "  login             p50 200 ms, p95 2000 ms, p99 2000 ms (20)",
    ]
    assert operation_lines({"login": [1.5] * 20})[0].endswith("MISSED")
    assert operation_lines({}) == ["operation latency: no operation done"]
