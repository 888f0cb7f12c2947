"""Shared pieces of the API tests: real models, moto's Kinesis, valid payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

from fraudit.api.app import create_app
from fraudit.api.service import FamilyModel, PredictService
from fraudit.data.creditcard import load_creditcard
from fraudit.data.metadata import MetadataGenerator
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB
from fraudit.models.ulb.serving import InProcessScorer
from fraudit.online.redis_store import OnlineStore, connect
from fraudit.publishing import KinesisPublisher
from fraudit.settings import Settings
from fraudit.ulb_vector import to_csv_row
from tests.conftest import DEV_CSV
from tests.support.redis_keys import REDIS_URL, new_prefix

STREAM = "fraud-predictions"
JSON = {"Content-Type": "application/json"}
_ROWS = None
_METADATA = MetadataGenerator(seed=3, n_users=200)


def dev_rows():
    global _ROWS
    if _ROWS is None:
        data = load_creditcard(DEV_CSV)
        _ROWS = (data.X[:400], data.y[:400], data.X[data.y == 1][:20])
    return _ROWS


def payload(i: int = 0, fraud: bool = False, **metadata) -> dict:
    genuine, _, frauds = dev_rows()
    row = frauds[i % len(frauds)] if fraud else genuine[i % len(genuine)]
    # Stamped a minute ago: the API refuses transactions older than its max event age.
    when = datetime.now(UTC) - timedelta(minutes=1)
    meta = _METADATA.for_row(i, fraud, timestamp=when)
    meta.update(metadata)
    return {"metadata": meta, "data": to_csv_row(row)}


def kinesis_stream(shards: int = 1):
    client = boto3.client("kinesis", region_name="us-east-1")
    client.create_stream(StreamName=STREAM, ShardCount=shards)
    return client


def read_stream(client, stream: str = STREAM, *, labels: bool = False) -> list[dict]:
    """Every scored event of the stream (with `labels`, every label record instead: the
    two share it, see fraudit.labels), page by page (a GetRecords call returns at most
    10 MB)."""
    events = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records = [json.loads(r["Data"]) for r in page["Records"]]
            events += [r for r in records if ("record_type" in r) == labels]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return events


def private_store(url: str = REDIS_URL, *, cluster: bool = False, **options) -> OnlineStore:
    """An online store on the machine's Redis (or a cluster at `url`) under a prefix of its
    own: tests never see each other's transactions or idempotency records."""
    return OnlineStore(connect(url, 2.0, cluster=cluster), prefix=new_prefix(), **options)


def make_app(
    bundle,
    kinesis_client,
    *,
    api_key: str = "",
    scorer=None,
    max_attempts: int = 3,
    attempt_timeout: float = 0.0,
    sleep=lambda _: None,
    store=None,
    cards=None,
    stream: str = STREAM,
    shadow=None,
    **settings,
):
    config = Settings(_env_file=None, **settings)
    publisher = KinesisPublisher(
        kinesis_client,
        stream,
        max_attempts=max_attempts,
        attempt_timeout=attempt_timeout,
        sleep=sleep,
    )
    models = {ULB.name: FamilyModel(scorer or InProcessScorer(bundle), bundle.policy, shadow)}
    if cards is not None:
        models[CARDS.name] = cards
    service = PredictService(
        publisher,
        models,
        store=store or private_store(),
        max_batch=config.api_max_batch,
        max_event_age=timedelta(days=config.max_event_age_days),
        shadow_timeout=config.shadow_timeout_seconds,
    )
    return create_app(service, settings=config, api_key=api_key)
