"""Stream records for the ELT tests, made exactly as the API makes them."""

from __future__ import annotations

import functools
import importlib.util
import json
from datetime import UTC, datetime, timedelta

from fraudit.api.plan import encode_event
from fraudit.contracts import ScoredEvent

BASE = datetime(2025, 8, 21, 17, 45, tzinfo=UTC)


def event(i: int, **changes) -> ScoredEvent:
    fields = dict(
        event_id=f"ev-{i}",
        timestamp=BASE + timedelta(seconds=37 * i),
        scored_at=BASE + timedelta(seconds=37 * i, milliseconds=4),
        user_id=f"u_{i % 7}",
        source=("checkout", "web")[i % 2],
        amount=round(10 + i * 1.25, 2),
        fraud_prediction=int(i % 9 == 0),
        fraud_proba=round((i % 10) / 10 + 0.05, 4),
        anomaly_score=0.5 + i / 100,
        decision=("approve", "review", "decline")[i % 3],
        model_version="m-1",
        policy_version="p-1",
        ip_address=f"203.0.113.{i % 250}",
        device_info={
            "device_id": f"d_{i % 11}",
            "device_type": "mobile",
            "os_version": "iOS 17",
            "app_version": "2.4.1",
        },
        geo={
            "country": ("fr", "US", None)[i % 3],
            "city": "Paris",
            "latitude": 48.85,
            "longitude": 2.35,
        },
    )
    fields.update(changes)
    return ScoredEvent(**fields)


def record(data: bytes | str | None, position: int, shard: str = "shardId-000000000000"):
    if isinstance(data, str):
        data = data.encode()
    return (data, shard, str(49_000_000_000 + position), BASE)


def event_record(i: int, position: int | None = None, **changes):
    data, _ = encode_event(event(i, **changes))
    return record(data, i if position is None else position)


def raw_frame(spark, records):
    from fraudit.stream.schema import RAW_RECORD_SCHEMA

    return spark.createDataFrame(records, RAW_RECORD_SCHEMA)


def as_json(e: ScoredEvent) -> dict:
    return json.loads(e.model_dump_json(exclude_none=True))


def card_event(i: int, **changes) -> ScoredEvent:
    """A card transaction's event (schema version 2), as the API's card path makes it."""
    from fraudit.features.definitions import CATEGORIES, FEATURE_NAMES, feature_set_version

    fields: dict = dict(
        schema_version=2,
        card={
            "card_token": f"card_{i % 5}",
            "merchant_id": f"m{i % 13}",
            "merchant_category": CATEGORIES[i % len(CATEGORIES)],
            "merchant_lat": 40.5,
            "merchant_lon": -74.25,
            "store_arrival": i + 1,
        },
        features={
            name: (None if k % 7 == 0 else k + i / 3) for k, name in enumerate(FEATURE_NAMES)
        },
        feature_set_version=feature_set_version(),
    )
    fields.update(changes)
    made = event(i, **fields)
    # The Glue test environment (pyspark 3.5, what the Glue job has) has no CEL: there the
    # events carry no rules, as the stream's own code needs none.
    if "rules" in changes or importlib.util.find_spec("cel_expr_python") is None:
        return made
    return with_shadow_rule(made)


# A shadow rule the card events are decided with, by the real engine: it fires on some of
# them (card_count_1h grows with i) and never changes a decision.
SHADOW_RULE = "card_burst_shadow"


@functools.cache
def _card_rules():
    from fraudit.families import families, family
    from fraudit.rules.document import PublishedRule, RulesetDocument
    from fraudit.rules.engine import CompiledRuleset

    rule = PublishedRule(
        rule_id=SHADOW_RULE,
        version=1,
        family="cards",
        state="shadow",
        action="review",
        expression="card_count_1h >= 20",
        reason="a burst on the card",
    )
    document = RulesetDocument(version="rs-test", published_at=BASE, rules=(rule,))
    return CompiledRuleset(document, families()).for_family(family("cards")), document


def with_shadow_rule(made: ScoredEvent) -> ScoredEvent:
    from fraudit.rules.fields import rule_inputs
    from fraudit.rules.outcome import applied

    rules, document = _card_rules()
    hits, faults = rules.evaluate(rule_inputs(made), made.scored_at.timestamp())
    record, decision = applied(
        document.version, {}, hits, faults, made.fraud_proba, lambda _: made.decision
    )
    return made.model_copy(update={"rules": record, "decision": decision})


def card_event_record(i: int, position: int | None = None, **changes):
    data, _ = encode_event(card_event(i, **changes))
    return record(data, i if position is None else position)
