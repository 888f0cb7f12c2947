"""The CI-sized soak: 3 minutes at 50 requests/s through model server, API, Kinesis
emulator, Spark and a private PostgreSQL cluster, with the Spark job killed and PostgreSQL
restarted once. Every accepted answer must be exactly one row, and memory must stay flat."""

from __future__ import annotations

import pytest

from fraudit.data.creditcard import load_creditcard
from fraudit.data.metadata import MetadataGenerator
from fraudit.simulator.source import ReplaySource
from fraudit.soak.harness import Soak
from fraudit.soak.plan import SoakConfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_soak_loses_and_duplicates_nothing_through_a_spark_kill_and_a_postgres_restart(
    tmp_path, trained, dev_csv
):
    config = SoakConfig(
        minutes=3, rate=50, out_dir=tmp_path / "soak", model_dir=trained.path.parent
    )
    source = ReplaySource(load_creditcard(dev_csv), MetadataGenerator(seed=7))

    def no_training() -> None:
        raise AssertionError("the session's trained model should be used")

    report = Soak(config, source, print).run(train=no_training)

    r = report.reconciliation
    assert r.accepted_responses > 0.95 * config.seconds * config.rate
    assert r.accepted_responses == r.rows == r.distinct_event_ids
    assert (r.lost, r.duplicated, r.stored_never_sent) == (0, 0, 0)
    assert [f.kind for f in report.faults] == ["kill-stream", "restart-postgres"]
    assert report.passed, report.failures
    for name in ("report.md", "report.json", "latency.png", "throughput.png", "memory.png"):
        assert (config.out_dir / name).stat().st_size > 0
