"""The ULB family: the 30 numbers of the ULB credit-card dataset (Time, V1..V28, Amount),
PCA components a client computes itself. The first family, so its settings carry no prefix
and its versions sit at the model folder's root."""

from __future__ import annotations

from fraudit.contracts import PredictRequest
from fraudit.families.base import ModelFamily
from fraudit.ulb_vector import FeatureVector, to_csv_row


def ulb_row(request: PredictRequest, features: None) -> FeatureVector:
    """The 30 numbers the client sent: the models' row as it is."""
    return request.data


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
    package="fraudit.models.ulb",
    required=True,
)
