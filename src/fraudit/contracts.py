"""Wire formats: the /predict request and response, and the scored stream event
(docs/ARCHITECTURE.md).

Every format carries `schema_version` where it leaves the process, so consumers can evolve.
Consumers tolerate unknown fields; producers never emit fields outside these models.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from fraudit.decisions import Decision
from fraudit.ulb_vector import FeatureError, FeatureVector, parse_features

SCHEMA_VERSION = 1


_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def _as_utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC, the only zone the pipeline stores.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[
    datetime,
    PlainSerializer(lambda v: _as_utc(v).isoformat().replace("+00:00", "Z"), return_type=str),
]


class _Lenient(BaseModel):
    """Nested client objects: unknown keys are ignored, not echoed downstream."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class DeviceInfo(_Lenient):
    device_id: str | None = Field(
        None,
        pattern=_ID_PATTERN,
        description="stable device fingerprint; feeds the device-shared-by-many-users rule",
    )
    device_type: str | None = Field(None, max_length=64)
    os_version: str | None = Field(None, max_length=64)
    app_version: str | None = Field(None, max_length=64)


class Geo(_Lenient):
    country: str | None = Field(None, description="ISO 3166-1 alpha-2, normalised upper case")
    region: str | None = Field(None, max_length=128)
    city: str | None = Field(None, max_length=128)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _COUNTRY.match(value):
            raise ValueError("must be a two-letter ISO 3166-1 country code")
        return value.upper()


class TransactionMetadata(_Lenient):
    transaction_id: str | None = Field(
        None, pattern=_ID_PATTERN, description="client idempotency key; becomes the event_id"
    )
    timestamp: UtcDatetime
    user_id: str = Field(pattern=_ID_PATTERN)
    source: str = Field("unknown", min_length=1, max_length=64)
    device_info: DeviceInfo | None = None
    ip_address: str | None = Field(None, description="IPv4 or IPv6, stored normalised")
    geo: Geo | None = None

    @field_validator("ip_address")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ip_address(value))
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)


def _features(value: object) -> FeatureVector:
    if isinstance(value, (str, list, tuple)):
        try:
            return parse_features(value)
        except FeatureError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError("must be a CSV string or an array of 30 numbers")


Features = Annotated[FeatureVector, BeforeValidator(_features)]


class PredictRequest(BaseModel):
    """POST /predict body. Unknown top-level keys are refused: they are usually typos."""

    model_config = ConfigDict(extra="forbid")

    metadata: TransactionMetadata
    data: Features = Field(description="Time,V1..V28,Amount: a CSV string or a JSON array")

    @property
    def amount(self) -> float:
        return self.data[-1]


class AnomalyResult(BaseModel):
    score: float


class ClassifierResult(BaseModel):
    pred_proba: float = Field(ge=0, le=1)
    prediction: Literal[0, 1]


class PredictResponse(BaseModel):
    schema_version: int = SCHEMA_VERSION
    event_id: str
    anomaly_detector: AnomalyResult
    fraud_classifier: ClassifierResult
    decision: Decision
    model_version: str
    policy_version: str


class ScoredEvent(BaseModel):
    """One Kinesis record (partition key: user_id). Readers must ignore unknown fields."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    event_id: str
    timestamp: UtcDatetime
    scored_at: UtcDatetime
    user_id: str
    source: str
    amount: float = Field(ge=0)
    fraud_prediction: Literal[0, 1]
    fraud_proba: float = Field(ge=0, le=1)
    anomaly_score: float
    decision: Decision
    model_version: str
    policy_version: str
    ip_address: str | None = None
    device_info: DeviceInfo | None = None
    geo: Geo | None = None
