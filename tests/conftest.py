from __future__ import annotations

from pathlib import Path

import pytest

from fraudit.data.datasets import SAMPLES_FOLDER, ULB_DEV_SAMPLE
from tests.support.layers import check_layers

REPO = Path(__file__).resolve().parents[1]
# The real ULB development rows, committed with the repository (dataset/README.md).
DEV_CSV = REPO / SAMPLES_FOLDER / ULB_DEV_SAMPLE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    check_layers(items, REPO / "tests")


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    if not DEV_CSV.is_file():
        pytest.fail(f"real dev data missing: {DEV_CSV} (it is committed with the repository)")
    return DEV_CSV


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def trained(model_root, dev_csv):
    """One real training run on the real dev rows, shared by the whole session."""
    from fraudit.models.ulb.train import run_training
    from fraudit.settings import Settings

    settings = Settings(_env_file=None, model_dir=model_root)
    return run_training(settings, data_path=dev_csv, progress=lambda _: None)


@pytest.fixture(scope="session")
def serving_root(trained, trained_cards, tmp_path_factory) -> Path:
    """A model folder holding both families (links to the session's two trained models):
    what the model server and the API of the integration tests serve."""
    root = tmp_path_factory.mktemp("serving")
    (root / trained.version).symlink_to(trained.path, target_is_directory=True)
    (root / "LATEST").write_text(trained.version)
    cards = trained_cards[0].path.parent
    (root / "cards").symlink_to(cards, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def bundle(trained):
    from fraudit.models.ulb.bundle import load_bundle

    return load_bundle(trained.path.parent, trained.version)


@pytest.fixture(scope="session", autouse=True)
def _clear_redis_prefixes():
    # The stores the tests made on the machine's Redis go with the session.
    yield
    import sys

    keys = sys.modules.get("tests.support.redis_keys")
    if keys is not None and keys.ISSUED:
        keys.clear_issued()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    # Nothing in the tests may reach AWS: dummy credentials, a fixed region.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def spark():
    """One SparkSession for the whole test session."""
    from fraudit.stream.spark_session import local_session

    session = local_session("fraudit-tests", "local[2]")
    yield session
    session.stop()


@pytest.fixture
def database():
    """A fresh database on the PostgreSQL service (127.0.0.1:5432), dropped afterwards."""
    from fraudit.local.pg_cluster import temporary_database

    with temporary_database("postgresql://postgres@127.0.0.1:5432/postgres", "fraudit_test") as url:
        yield url


@pytest.fixture(scope="session")
def kinesis_emulator(tmp_path_factory):
    """kinesalite on loopback (in memory), with the stream the API publishes to."""
    from fraudit.local.kinesis_emulator import KinesisEmulator
    from tests.conftest import REPO

    log = tmp_path_factory.mktemp("logs") / "kinesalite.log"
    emulator = KinesisEmulator(REPO / ".fraudit" / "node", log_path=log)
    emulator.start()
    emulator.create_stream("fraud-predictions", shards=2)
    yield emulator
    emulator.stop()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the test's own, on a free port: tests that stop or restart
    the database use this, never the shared service on 5432."""
    from fraudit.local.pg_cluster import PrivateCluster
    from tests.support.processes import free_port

    cluster = PrivateCluster(free_port()).init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def trained_cards(spark, tmp_path_factory):
    """A simulated year of 40,000 card transactions, backfilled on the session's Spark and
    trained as the card family: one run shared by the session. Its own model root, so the
    ULB tests' model server keeps serving the ULB family alone."""
    from fraudit.features.history_files import backfill_file
    from fraudit.models.cards.from_scratch import simulate_history
    from fraudit.models.cards.pipeline import run_card_training
    from fraudit.settings import Settings

    folder = tmp_path_factory.mktemp("cards")
    history, features = folder / "history.parquet", folder / "features"
    simulate_history(history, 40_000, seed=11, say=lambda _: None)
    backfill_file(spark, history, features)
    settings = Settings(_env_file=None, model_dir=folder / "models")
    result = run_card_training(
        settings, history=history, features=features, progress=lambda _: None
    )
    return result, history, features


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A Redis Cluster of 3 primaries on free loopback ports, from the same redis-server
    (the mode ElastiCache Serverless runs in), for the session."""
    from fraudit.local.redis_server import PrivateRedisCluster, free_cluster_ports

    cluster = PrivateRedisCluster(free_cluster_ports(3), tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, on a free port: tests that stop or restart the
    store use this, never the machine's service on 6379."""
    from fraudit.local.redis_server import PrivateRedis
    from tests.support.processes import free_port

    server = PrivateRedis(free_port(), tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()
