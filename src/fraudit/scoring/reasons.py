"""A scored row's reasons, from its models' explanation: the classifier's largest TreeSHAP
contributions toward fraud, each with the feature's value and the value in words, and the
anomaly detector's largest terms (docs/RULES.md, "Reasons"). Pure."""

from __future__ import annotations

from collections.abc import Mapping

from fraudit.contracts import FeatureReason, Reasons
from fraudit.families import ModelFamily
from fraudit.scoring.base import Explanation

# As many as a reviewer reads at a glance; the event keeps the feature vector for the rest.
TOP_CONTRIBUTIONS = 5
TOP_ANOMALY_TERMS = 3


def reasons(
    family: ModelFamily,
    explanation: Explanation,
    row: object,
    feature_set_version: str | None,
) -> Reasons:
    values: Mapping[str, float | None] = family.named_values(row)
    ranked = sorted(
        zip(explanation.names, explanation.contributions, strict=True), key=lambda nc: -nc[1]
    )
    model = [
        FeatureReason(
            feature=name,
            value=values.get(name),
            contribution=contribution,
            text=family.describe(name, values.get(name)),
        )
        for name, contribution in ranked[:TOP_CONTRIBUTIONS]
        if contribution > 0
    ]
    terms = sorted(explanation.anomaly_terms.items(), key=lambda kv: -kv[1])
    anomaly = [
        FeatureReason(
            feature=term,
            value=values.get(term),
            contribution=part,
            text=family.describe_anomaly(term, part),
        )
        for term, part in terms[:TOP_ANOMALY_TERMS]
    ]
    return Reasons(
        model=model,
        model_bias=explanation.bias,
        anomaly=anomaly,
        feature_set_version=feature_set_version,
    )
