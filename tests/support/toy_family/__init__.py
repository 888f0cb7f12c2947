"""A third model family, declared the way ULB and cards are, for the test that a family is
written once (tests/integration/test_model_families.py). Its "models" are arithmetic on two
numbers; its code folder is this package."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from fraudit.contracts import TransactionMetadata
from fraudit.families import ModelFamily


class ToyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: TransactionMetadata
    toy: list[float] = Field(min_length=2, max_length=2)

    @property
    def amount(self) -> float:
        return self.toy[0]


def toy_row(request: ToyRequest, features: None) -> list[float]:
    return list(request.toy)


def toy_csv_row(row: Sequence[float]) -> str:
    return ",".join(repr(float(v)) for v in row)


TOY = ModelFamily(
    name="toy",
    description="toy (two numbers)",
    noun="toy",
    request_key="toy",
    request=ToyRequest,
    request_summary="a toy pair (`toy`)",
    row=toy_row,
    csv_row=toy_csv_row,
    artifact_dir="toy",
    deploy_prefix="models/toy",
    policy_key="policy/toy/policy.json",
    version_variable="toy_model_version",
    settings_prefix="toy_",
    default_classifier_endpoint="toy-xgb-endpoint",
    default_anomaly_endpoint="toy-anomaly-endpoint",
    train_command="fraudit train --dataset toy",
    named_values=lambda row: {"a": row[0], "b": row[1]},
    describe=lambda name, value: f"{name} is {value}",
    describe_anomaly=lambda term, value: f"{term} stands out ({value:.1f})",
    row_of_event=lambda event: None,
    package="tests.support.toy_family",
)
