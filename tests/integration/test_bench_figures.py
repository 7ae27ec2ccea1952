"""Figures 13 and 14 of the benchmark suite (`make bench`), run short on a small scratch
database, so that they keep working: the fresh pages against the bare stack, with the server's
count of answers from memory, and the open-loop mix of traffic."""

import os

import pytest

from bench import data, fresh, load, mix, suite

pytestmark = pytest.mark.skipif(
    os.environ.get("ROSTER_TEST_ENGINE", "sqlite") != "sqlite",
    reason="the figures' code is the same on both engines: run once, on a SQLite file",
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench")
    url = f"sqlite:///{workdir}/bench.sqlite3"
    env = suite.bench_env(url)
    suite.roster(env, "migrate")
    summary = data.generate(url, 1200, crowd=40, staff=3)
    suite.roster(env, "create-admin", "--email", suite.ADMIN_EMAIL, "--password",
                 suite.ADMIN_PASSWORD, "--name", "Bench Admin")  # fmt: skip
    return env, workdir, summary


def test_the_crowd_and_its_signed_in_people_are_generated(scratch):
    _, _, summary = scratch
    assert len(summary["crowd"]) == 40 and len(summary["staff"]) == 3
    for _, email, cookie, members in summary["crowd"]:
        assert email and len(cookie) == 64
        assert data.CROWD_SIZES[0] - 1 <= len(members) <= data.CROWD_SIZES[1] - 1


def test_fresh_pages_against_the_bare_stack(scratch, monkeypatch):
    env, workdir, summary = scratch
    # bench/load.py's own client, as on a machine without wrk (CI): its list of requests
    monkeypatch.setattr(load, "wrk_path", lambda: None)
    cfg = {"fresh_seconds": 1, "fresh_warmup": 1, "fresh_reps": 1, "connections": 4}
    out = fresh.fig_fresh_page(env, workdir, summary, cfg)
    for page in fresh.PAGES:
        figure = out[page]
        assert figure["app"]["errors"] == 0 and figure["runs"]["app"][0]["requests"] > 0
        assert 0 < figure["ratio"] < 10
    # The staff Users tab asks what the process keeps (and 40 accounts come round within the
    # time a section is kept: some are hits, which the figure reports); User Management never.
    tab = out["users_tab"]["kept_lookups"]
    assert tab["hit"] + tab["miss"] > 0
    assert out["user_management"]["kept_lookups"] == {"hit": 0.0, "miss": 0.0}
    assert out["users_tab"]["kept_hit_share"] > 0.01 and not out["users_tab"]["met"]
    assert [name for name, *_ in fresh.rows({"fresh_page": out})] == [
        "13 fresh users tab vs bare",
        "13 fresh user management vs bare",
    ]


def test_the_mix_offers_every_kind_of_request_at_a_constant_rate(scratch, monkeypatch):
    env, workdir, summary = scratch
    monkeypatch.setattr(mix, "STEPS", (10, 20))
    monkeypatch.setattr(mix, "FIXED_RATE", 30)
    monkeypatch.setitem(mix.WEIGHTS, "login", 10)  # a few in a short run
    cfg = {"mix_crowd_owners": 10, "mix_step_seconds": 2, "mix_reps": 1, "mix_seconds": 3}
    out = mix.fig_mix(env, workdir, summary, cfg)
    one = out["one_worker"]
    assert "two_workers" not in out  # SQLite: one process
    fixed = one["at_fixed_rate"][0]
    assert fixed["errors"] == {} and one["fixed_errors"] == 0
    assert fixed["requests"] == 90 and fixed["sent_rps"] >= 25
    assert set(fixed["p95_by_kind_ms"]) == set(mix.WEIGHTS)
    assert [step["offered_rps"] for step in one["steps"]][:1] == [10]
    assert one["steps"][0]["errors"] == {}
