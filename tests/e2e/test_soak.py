"""The CI-sized soak: 3 minutes at 50 card transactions/s through model server, API (with
its online store on a private Redis), Kinesis emulator, Spark and a private PostgreSQL
cluster, with the Spark job killed, PostgreSQL restarted, Redis answering late for a while
and Redis restarted (then rebuilt from PostgreSQL) once each. Every accepted answer must be exactly one row, the store must
equal a recomputation from the rows with no transaction counted twice, and memory must stay
flat."""

from __future__ import annotations

import pytest

from fraudit.cli import main
from fraudit.simulator.source import CardReplaySource, load_card_history
from fraudit.soak.harness import Soak
from fraudit.soak.plan import SoakConfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_soak_loses_and_duplicates_nothing_through_spark_postgres_and_redis_faults(
    tmp_path, serving_root
):
    config = SoakConfig(minutes=3, rate=50, out_dir=tmp_path / "soak", model_dir=serving_root)
    history = tmp_path / "replay.parquet"
    args = ["--transactions", "20000", "--seed", "8", "--out", str(history)]
    assert main(["generate-cards", *args]) == 0
    source = CardReplaySource(load_card_history(history), "soak-test", seed=7)

    def no_training(family: object) -> int:
        raise AssertionError(f"the session's trained models should be used, not {family}")

    report = Soak(config, source, print).run(train=no_training)

    r = report.reconciliation
    assert r.accepted_responses > 0.95 * config.seconds * config.rate
    assert r.accepted_responses == r.rows == r.distinct_event_ids
    assert (r.lost, r.duplicated, r.stored_never_sent) == (0, 0, 0)
    assert [f.kind for f in report.faults] == [
        "kill-stream",
        "restart-postgres",
        "slow-redis",
        "restart-redis",
    ]
    check = report.store_check
    assert check is not None
    assert check.keys > 100
    assert (check.mismatched, check.counted_twice) == (0, 0), check
    assert report.passed, report.failures
    for name in ("report.md", "report.json", "latency.png", "throughput.png", "memory.png"):
        assert (config.out_dir / name).stat().st_size > 0
