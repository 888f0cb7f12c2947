from __future__ import annotations

from collections import Counter

import pytest

from fraudit.contracts import PredictRequest
from fraudit.data.metadata import FRAUD_CITIES, MetadataGenerator

pytestmark = pytest.mark.unit

FEATURES = [0.0, *[0.1] * 28, 10.0]


@pytest.fixture(scope="module")
def generator():
    return MetadataGenerator(seed=11, n_users=2_000)


def test_rows_are_valid_requests_and_deterministic(generator):
    again = MetadataGenerator(seed=11, n_users=2_000)
    for i in range(200):
        fraud = i % 10 == 0
        meta = generator.for_row(i, fraud, time_seconds=i * 3.0)
        assert meta == again.for_row(i, fraud, time_seconds=i * 3.0)
        PredictRequest.model_validate({"metadata": meta, "data": FEATURES})
    assert generator.transaction_id(5) == again.transaction_id(5)
    assert MetadataGenerator(seed=12, n_users=2_000).transaction_id(5) != generator.transaction_id(
        5
    )


def test_genuine_users_are_stable(generator):
    by_user: dict[str, Counter] = {}
    for i in range(3_000):
        meta = generator.for_row(i, False)
        by_user.setdefault(meta["user_id"], Counter())[
            (meta["device_info"]["os_version"], meta["geo"]["country"])
        ] += 1
    busy = [c for c in by_user.values() if sum(c.values()) >= 10]
    assert busy, "activity should be skewed so some users transact often"
    at_home = sum(c.most_common(1)[0][1] for c in busy)
    assert at_home / sum(sum(c.values()) for c in busy) > 0.85  # ~8% of genuine rows travel


def test_fraud_rows_show_the_patterns_fraud_teams_look_for(generator):
    frauds = [generator.for_row(i, True) for i in range(600)]
    genuine = [generator.for_row(i, False) for i in range(600)]
    foreign = {c[0] for c in FRAUD_CITIES}

    def share(rows, test):
        return sum(map(test, rows)) / len(rows)

    def abroad(m):
        return m["geo"]["country"] in foreign

    assert share(frauds, abroad) > 0.6 > share(genuine, abroad) + 0.5
    new_device = [
        m for m in frauds if m["device_info"] != generator.users[int(m["user_id"][2:])].device
    ]
    assert len(new_device) / len(frauds) > 0.5
    ips = Counter(m["ip_address"] for m in frauds)
    shared = [ip for ip, _ in ips.most_common(3)]
    users_on_shared_ip = {m["user_id"] for m in frauds if m["ip_address"] == shared[0]}
    assert len(users_on_shared_ip) >= 5  # one proxy, many victims
    per_user = Counter(m["user_id"] for m in frauds)
    assert per_user.most_common(1)[0][1] >= 5  # bursts on compromised cards
    devices = Counter(m["device_info"]["device_id"] for m in frauds)
    farm = devices.most_common(1)[0][0]
    assert len({m["user_id"] for m in frauds if m["device_info"]["device_id"] == farm}) >= 5
    assert all(
        m["device_info"]["device_id"] == generator.users[int(m["user_id"][2:])].device["device_id"]
        for m in genuine
    )  # a genuine card keeps its device
