"""The soak's judgement: reconciliation of answers with rows, memory slopes, windows."""

from __future__ import annotations

import math

import pytest

from fraudit.soak.plan import SoakConfig, check_store, fault_schedule, latest
from fraudit.soak.report import (
    MB,
    Answer,
    FaultRecord,
    MemorySample,
    StoredRow,
    judge,
    reconcile,
    rss_slopes,
    to_markdown,
    windows,
)

pytestmark = pytest.mark.unit


def ok(event_id: str, at: float = 1.0, ms: float = 10.0) -> Answer:
    return Answer(at, 200, ms / 1000, 1, event_id)


def row(event_id: str, landed: float = 2.0, lag: float = 1.0) -> StoredRow:
    return StoredRow(event_id, landed, lag)


def flat_memory(processes=("api", "stream"), minutes: float = 4.0, growth_mb: float = 0.0):
    samples = []
    for i in range(int(minutes * 12) + 1):
        at = i * 5.0
        for p in processes:
            size = int((500 + growth_mb * at / 60) * MB)
            samples.append(MemorySample(at, p, size, size))
    return samples


FAULTS = [FaultRecord(10, "kill-stream", 15.0), FaultRecord(30, "restart-postgres", 0.3)]


def test_every_accepted_event_stored_once_reconciles_clean():
    answers = [ok(f"tx_{i}") for i in range(5)]
    r = reconcile(answers, [row(f"tx_{i}") for i in range(5)], [])
    assert (r.accepted_responses, r.accepted_ids, r.rows, r.distinct_event_ids) == (5, 5, 5, 5)
    assert (r.lost, r.duplicated, r.stored_not_accepted, r.stored_never_sent) == (0, 0, 0, 0)


def test_lost_duplicated_and_unexplained_rows_are_counted():
    answers = [ok("a"), ok("b"), ok("c"), Answer(1, 503, 0.1, 8, "d", "kinesis down")]
    stored = [row("a"), row("a"), row("b"), row("d"), row("zzz")]
    r = reconcile(answers, stored, [("e", "missing required field"), (None, "")])
    assert r.lost == 1
    assert r.lost_sample == ["c"]
    assert r.duplicated == 1  # "a" twice
    assert r.stored_not_accepted == 1  # "d": published, answered 503
    assert r.stored_never_sent == 1  # "zzz"
    assert r.rejected_by_reason == {"missing required field": 1}
    assert r.rejected_unexplained == 1


def test_rss_slope_is_fitted_over_the_second_half_only():
    samples = flat_memory(("api",), minutes=4)
    # A start-up climb in the first half must not count.
    samples = [
        MemorySample(
            s.at, s.process, s.rss_bytes + int(max(0, 60 - s.at) * -5 * MB), s.private_bytes
        )
        for s in samples
    ]
    slopes = rss_slopes(samples, since=120)
    assert slopes["api"] == pytest.approx(0.0, abs=1e-6)
    growing = flat_memory(("api",), minutes=4, growth_mb=12.0)
    assert rss_slopes(growing, since=120)["api"] == pytest.approx(12.0, rel=1e-6)


def test_judge_passes_a_clean_run_and_fails_on_loss_errors_and_growth():
    config = SoakConfig(minutes=4)
    answers = [ok(f"tx_{i}", at=i * 0.1) for i in range(2000)]
    stored = [row(f"tx_{i}") for i in range(2000)]
    clean = judge(config, 240, answers, stored, [], flat_memory(), FAULTS, planned_faults=2)
    assert clean.passed, clean.failures
    assert clean.latency_ms["p99"] == pytest.approx(10.0)

    leaky = judge(
        SoakConfig(minutes=30),
        240,
        answers,
        stored[:-1],
        [],
        flat_memory(growth_mb=8.0),
        FAULTS[:1],
        planned_faults=2,
    )
    text = " | ".join(leaky.failures)
    assert "1 accepted events are not in fraud_predictions" in text
    assert "private RSS grows 8.00 MB/min over the second half (limit 5.0)" in text
    assert "1 of 2 faults" in text

    errors = [Answer(1, 0, 10.0, 8, f"e{i}", "no answer") for i in range(10)]
    failing = judge(config, 240, answers + errors, stored, [], flat_memory(), FAULTS, 2)
    assert any("API error rate" in f for f in failing.failures)
    assert failing.errors_by_status == {"0": 10}


def test_short_runs_are_held_to_the_gross_leak_bound_only():
    answers, stored = [ok("a")], [row("a")]
    settling = judge(
        SoakConfig(minutes=3),
        180,
        answers,
        stored,
        [],
        flat_memory(minutes=3, growth_mb=8.0),
        FAULTS,
        2,
    )
    assert settling.passed, settling.failures
    assert "gross-leak bound of 50 MB/min" in to_markdown(settling, [])
    gross = judge(
        SoakConfig(minutes=3),
        180,
        answers,
        stored,
        [],
        flat_memory(minutes=3, growth_mb=80.0),
        FAULTS,
        2,
    )
    assert any("limit 50.0" in f for f in gross.failures)


def test_a_restarted_spark_job_warming_up_is_judged_only_on_long_runs():
    def warming(minutes):
        return flat_memory(("stream (Spark)",), minutes=minutes, growth_mb=400.0) + flat_memory(
            ("api",), minutes=minutes
        )

    short = judge(SoakConfig(minutes=3), 180, [ok("a")], [row("a")], [], warming(3), FAULTS, 2)
    assert short.passed, short.failures
    assert short.private_slope_mb_per_min["stream (Spark)"] == pytest.approx(400.0)
    steady = [ok(f"a{i}", at=i * 1.0) for i in range(1_800)]  # the rate held
    stored = [row(a.event_id) for a in steady]
    long = judge(SoakConfig(minutes=30), 1800, steady, stored, [], warming(30), FAULTS, 2)
    assert [f.split(":")[0] for f in long.failures] == ["stream (Spark)"]


def test_shared_pages_growing_is_not_judged_a_leak():
    """A PostgreSQL backend's RSS grows as it touches shared buffers; private RSS does not."""
    samples = [MemorySample(i * 5.0, "postgres", int((100 + i) * MB), 40 * MB) for i in range(49)]
    report = judge(SoakConfig(minutes=4), 240, [ok("a")], [row("a")], [], samples, FAULTS, 2)
    assert report.rss_slope_mb_per_min["postgres"] == pytest.approx(12.0)
    assert report.passed, report.failures


def test_windows_split_answers_and_landed_rows():
    answers = [ok("a", at=1, ms=10), ok("b", at=2, ms=30), Answer(12, 503, 1, 8, "c", "x")]
    stored = [row("a", landed=3, lag=2.0), row("b", landed=14, lag=12.0)]
    w = windows(answers, stored, width=10, end=20)
    assert [x.answered for x in w] == [2, 1]
    assert [x.accepted for x in w] == [2, 0]
    assert [x.landed for x in w] == [1, 1]
    assert w[0].p50_ms == pytest.approx(20.0)
    assert math.isnan(w[1].p50_ms)
    assert w[1].lag_p95_s == pytest.approx(12.0)


def test_markdown_states_the_verdict_and_the_counts():
    report = judge(SoakConfig(minutes=4), 240, [ok("a")], [row("a")], [], flat_memory(), FAULTS, 2)
    text = to_markdown(report, ["latency.png"])
    assert "PASSED" in text
    assert "| 1 | 1 | 1 | 1 | 0 | 0 |" in text
    assert "![latency.png](latency.png)" in text


def test_faults_land_in_the_first_half_in_order():
    faults = fault_schedule(SoakConfig(minutes=10))
    assert [f.kind for f in faults] == [
        "kill-stream",
        "restart-postgres",
        "slow-redis",
        "restart-redis",
    ]
    assert all(f.at < 300 for f in faults)
    # ULB vectors do not go through the online store: nothing to restart.
    ulb = fault_schedule(SoakConfig(minutes=10, dataset="ulb"))
    assert [f.kind for f in ulb] == ["kill-stream", "restart-postgres"]
    with pytest.raises(ValueError, match="minutes and rate must be > 0"):
        SoakConfig(minutes=0)


def test_the_store_check_finds_missing_extra_and_doubly_counted_transactions():
    expected = {"card:a": {"t1", "t2"}, "merchant:m": {"t1"}}
    assert check_store({"card:a": ["t2", "t1"], "merchant:m": ["t1"]}, expected).ok
    missing = check_store({"card:a": ["t1"], "merchant:m": ["t1"]}, expected)
    assert (missing.mismatched, missing.examples) == (1, ["card:a"])
    extra = check_store({"card:a": ["t1", "t2"], "merchant:m": ["t1"], "ip:x": ["t9"]}, expected)
    assert extra.examples == ["ip:x"]
    twice = check_store({"card:a": ["t1", "t2", "t2"], "merchant:m": ["t1"]}, expected)
    assert (twice.mismatched, twice.counted_twice) == (0, 1)
    assert not twice.ok
    failed = judge(
        SoakConfig(minutes=4),
        240,
        [ok("a")],
        [row("a")],
        [],
        flat_memory(),
        FAULTS,
        2,
        store_check=twice,
    )
    assert any("counted twice" in f for f in failed.failures)


def test_a_set_past_its_cap_is_expected_to_hold_the_latest_dated_of_the_rows():
    pairs = [(10.0, "ab-c"), (10.0, "ab"), (9.0, "z"), (11.0, "a")]
    assert latest(pairs, 2) == {"a", "ab"}  # "ab|" ranks above "ab-c|" (rule 8)
    assert latest(pairs, 10) == {"ab-c", "ab", "z", "a"}


def test_a_long_run_whose_rate_falls_fails_and_a_short_one_reports_it_only():
    """Main's 25-minute card soak answered 100 requests/s at first and about 37 at the end;
    the run passed. The rate by fifth is now reported, and judged from 10 minutes on."""
    falling = [ok(f"a{i}", at=i * 0.01) for i in range(60_000)]  # all in the first 600 s
    falling += [ok(f"b{i}", at=600 + i * 0.1) for i in range(6_000)]  # a tenth of that rate
    long = SoakConfig(minutes=20)
    rows = [row(a.event_id) for a in falling]
    report = judge(long, 1_200, falling, rows, [], flat_memory(), FAULTS, 2)
    assert report.rate_by_fifth[0] == pytest.approx(100.0)
    assert any("the rate fell" in f for f in report.failures)
    short = judge(SoakConfig(minutes=4), 1_200, falling, rows, [], flat_memory(), FAULTS, 2)
    assert not any("the rate fell" in f for f in short.failures)
