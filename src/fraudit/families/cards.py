"""The card family: a card transaction with its history features (docs/FEATURES.md),
counted in the online store and scored by its own models."""

from __future__ import annotations

from fraudit.contracts import CardPredictRequest
from fraudit.families.base import ModelFamily
from fraudit.features.definitions import FEATURE_NAMES, CardVector
from fraudit.features.descriptions import describe


def card_row(request: CardPredictRequest, features: CardVector | None) -> CardVector:
    """The card vector the online store's answers gave (docs/FEATURES.md)."""
    if features is None:
        raise ValueError("a card transaction is scored on its history features")
    return features


def card_csv_row(vector: CardVector) -> str:
    """A card vector as one `text/csv` line in the model's feature order: an empty field for
    a missing value (the XGBoost container reads it as missing, like training's NaN)."""
    return ",".join("" if (v := vector[name]) is None else repr(float(v)) for name in FEATURE_NAMES)


_QUESTIONS = {
    "amount_for_category": "an amount unusual for its category",
    "hour": "an hour of the day unusual for genuine transactions",
    "card_last_hour": "the card's last hour: more or larger transactions than usual",
}


def describe_card_anomaly(term: str, surprise: float) -> str:
    """One of the card detector's three questions (fraudit.models.cards.anomaly)."""
    return f"{_QUESTIONS.get(term, term)} (surprise {surprise:.1f})"


CARDS = ModelFamily(
    name="cards",
    description="cards (card transactions with history features: docs/FEATURES.md)",
    noun="card",
    request_key="transaction",
    request=CardPredictRequest,
    request_summary="a card transaction (`transaction`, schema version 2, docs/FEATURES.md)",
    row=card_row,
    csv_row=card_csv_row,
    artifact_dir="cards",
    deploy_prefix="models/cards",
    policy_key="policy/cards/policy.json",
    version_variable="card_model_version",
    settings_prefix="card_",
    default_classifier_endpoint="fraudit-card-xgb-endpoint",
    default_anomaly_endpoint="fraudit-card-anomaly-endpoint",
    train_command="fraudit train --dataset cards",
    named_values=lambda vector: vector,
    describe=describe,
    describe_anomaly=describe_card_anomaly,
    row_of_event=lambda event: event.features,  # the vector the models scored
    package="fraudit.models.cards",
    counts_history=True,
)
