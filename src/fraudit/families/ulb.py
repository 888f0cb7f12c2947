"""The ULB family: the 30 numbers of the ULB credit-card dataset (Time, V1..V28, Amount),
PCA components a client computes itself. The first family, so its settings carry no prefix
and its versions sit at the model folder's root."""

from __future__ import annotations

from fraudit.contracts import PredictRequest
from fraudit.families.base import ModelFamily
from fraudit.ulb_vector import ULB_COLUMNS, FeatureVector, to_csv_row


def ulb_row(request: PredictRequest, features: None) -> FeatureVector:
    """The 30 numbers the client sent: the models' row as it is."""
    return request.data


def ulb_values(vector: FeatureVector) -> dict[str, float | None]:
    return dict(zip(ULB_COLUMNS, vector, strict=True))


def describe_ulb(name: str, value: float | None) -> str:
    if name == "Amount":
        return f"an amount of {value:,.2f}" if value is not None else "no amount"
    if name == "Time":
        return f"{value:,.0f} seconds into the day's file" if value is not None else "no time"
    # V1..V28 are PCA components the dataset's publishers never named.
    return f"{name} = {value:.2f} (an unnamed PCA component)"


def describe_ulb_anomaly(term: str, share: float) -> str:
    name = "the log amount" if term == "log_amount" else term
    return f"{name} far from genuine transactions (distance term {share:.1f})"


ULB = ModelFamily(
    name="ulb",
    description="ulb (creditcard.csv features)",
    noun="ULB",
    request_key="data",
    request=PredictRequest,
    request_summary="a ULB vector (`data`, schema version 1)",
    row=ulb_row,
    csv_row=to_csv_row,
    artifact_dir="",
    deploy_prefix="models",
    policy_key="policy/policy.json",
    version_variable="model_version",
    settings_prefix="",
    default_classifier_endpoint="fraud-detection-xgb-endpoint",
    default_anomaly_endpoint="fraud-detection-anomaly-endpoint",
    train_command="fraudit train",
    named_values=ulb_values,
    describe=describe_ulb,
    describe_anomaly=describe_ulb_anomaly,
    row_of_event=lambda event: None,  # its events do not keep the 30 numbers
    package="fraudit.models.ulb",
    required=True,
)
