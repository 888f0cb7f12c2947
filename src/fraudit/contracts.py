"""Wire formats: the /predict request and response, and the scored stream event
(docs/ARCHITECTURE.md).

Every format carries `schema_version` where it leaves the process, so consumers can evolve.
Consumers tolerate unknown fields; producers never emit fields outside these models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from fraudit.decisions import Decision, RuleAction
from fraudit.features.definitions import CATEGORIES, CardVector
from fraudit.schema_versions import SCHEMA_VERSION
from fraudit.ulb_vector import FeatureError, FeatureVector, features_json_schema, parse_features
from fraudit.validity import (
    COUNTRY_PATTERN,
    DEFAULT_MAX_EVENT_AGE,
    ID_MAX_LENGTH,
    ID_PATTERN,
    LATITUDE_LIMIT,
    LONGITUDE_LIMIT,
    MAX_AMOUNT,
    MIN_POSITIVE_AMOUNT,
    NOT_A_CARD_NUMBER_FORMAT,
    PLACE_TEXT_MAX_LENGTH,
    SHORT_TEXT_MAX_LENGTH,
    TEXT_PATTERN,
    card_amount_problem,
    event_time_problem,
    identifier_problem,
    normalise_ip,
    text_problem,
    timestamp_text_problem,
)


@dataclass(frozen=True)
class ValidationClock:
    """What a request is judged against: the API's clock and how old a transaction may be.
    Passed as pydantic's validation context; without it the event-time window is not
    checked (the predict service always passes one)."""

    now: datetime
    max_event_age: timedelta = DEFAULT_MAX_EVENT_AGE


def _as_utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC, the only zone the pipeline stores.
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValueError("is outside the range of representable UTC times") from None


def _clean_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_a_card_number(value: str) -> str:
    problem = identifier_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value  # built in code, not sent by a client
    problem = timestamp_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


UtcDatetime = Annotated[
    datetime,
    PlainSerializer(lambda v: _as_utc(v).isoformat().replace("+00:00", "Z"), return_type=str),
]
# Identifiers: a closed alphabet (no control characters by construction).
Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]
# Identifiers of people and things that must never hold a card number.
SubjectId = Annotated[
    Identifier,
    Field(json_schema_extra={"format": NOT_A_CARD_NUMBER_FORMAT}),
    AfterValidator(_not_a_card_number),
]
# Free text: the pattern is stated in the OpenAPI document; the validator enforces it
# with a message that says what is wrong.
_TEXT_SCHEMA = {"pattern": TEXT_PATTERN}
ShortText = Annotated[
    str,
    Field(max_length=SHORT_TEXT_MAX_LENGTH, json_schema_extra=_TEXT_SCHEMA),
    AfterValidator(_clean_text),
]
PlaceText = Annotated[
    str,
    Field(max_length=PLACE_TEXT_MAX_LENGTH, json_schema_extra=_TEXT_SCHEMA),
    AfterValidator(_clean_text),
]
# A client's event time: an RFC 3339 string, stored in UTC.
EventTime = Annotated[UtcDatetime, BeforeValidator(_rfc3339)]
IpAddress = Annotated[
    str,
    AfterValidator(normalise_ip),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 64,
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
            "description": "IPv4 or IPv6 without a zone id, stored normalised",
        }
    ),
]
# Coordinates are JSON numbers: lax parsing would take false or "12.5".
Coordinate = Annotated[float, Field(strict=True)]


class _Lenient(BaseModel):
    """Nested client objects: unknown keys are ignored, not echoed downstream."""

    model_config = ConfigDict(extra="ignore")


class DeviceInfo(_Lenient):
    device_id: SubjectId | None = Field(
        None,
        description="stable device fingerprint (never a card number: 13-19 digits passing "
        "the Luhn check are refused); feeds the "
        "device-shared-by-many-users rule",
    )
    device_type: ShortText | None = None
    os_version: ShortText | None = None
    app_version: ShortText | None = None


class Geo(_Lenient):
    country: str | None = Field(
        None,
        pattern=COUNTRY_PATTERN,
        description="ISO 3166-1 alpha-2, normalised upper case",
    )
    region: PlaceText | None = None
    city: PlaceText | None = None
    latitude: Coordinate | None = Field(None, ge=-LATITUDE_LIMIT, le=LATITUDE_LIMIT)
    longitude: Coordinate | None = Field(None, ge=-LONGITUDE_LIMIT, le=LONGITUDE_LIMIT)

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        return None if value is None else value.upper()


class TransactionMetadata(_Lenient):
    transaction_id: SubjectId | None = Field(
        None,
        description="client idempotency key; becomes the event_id (never a card number: "
        "13-19 digits passing the Luhn check are refused)",
    )
    timestamp: EventTime = Field(
        description="when the transaction happened (RFC 3339, with its UTC offset): at most "
        "5 minutes ahead of the API's clock and at most FRAUDIT_MAX_EVENT_AGE_DAYS (default "
        "7) behind it"
    )
    user_id: SubjectId = Field(
        description="the cardholder's id or token, never a card number: 13-19 digits "
        "passing the Luhn check are refused"
    )
    source: ShortText = Field("unknown", min_length=1)
    device_info: DeviceInfo | None = None
    ip_address: IpAddress | None = Field(
        None, max_length=64, description="IPv4 or IPv6 without a zone id, stored normalised"
    )
    geo: Geo | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = _as_utc(value)
        clock = info.context
        if isinstance(clock, ValidationClock):
            problem = event_time_problem(value, clock.now, clock.max_event_age)
            if problem:
                raise ValueError(problem)
        return value


def _features(value: object) -> FeatureVector:
    if isinstance(value, (str, list, tuple)):
        try:
            return parse_features(value)
        except FeatureError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError("must be a CSV string or an array of 30 numbers")


Features = Annotated[
    FeatureVector, BeforeValidator(_features), WithJsonSchema(features_json_schema())
]


class PredictRequest(BaseModel):
    """POST /predict body. Unknown top-level keys are refused: they are usually typos."""

    model_config = ConfigDict(extra="forbid")

    metadata: TransactionMetadata
    data: Features

    @property
    def amount(self) -> float:
        return self.data[-1]


# --- Card transactions (schema version 2) ------------------------------------------------
# A fraud team's own transaction: a card token, the merchant, the places, the cardholder's
# date of birth. The feature engines (fraudit.features) compute history from these.

# A city of more people than this is a data error, not a city.
MAX_CITY_POPULATION = 100_000_000
# Cardholders older than this at the transaction are refused as a data error.
MAX_AGE_YEARS = 130


def _category(value: object) -> str:
    if not isinstance(value, str) or value not in CATEGORIES:
        raise ValueError(f"must be one of Sparkov's 14 categories: {', '.join(CATEGORIES)}")
    return value


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        return value  # built in code, not sent by a client
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]
MerchantCategory = Annotated[
    str,
    BeforeValidator(_category),
    WithJsonSchema({"type": "string", "enum": list(CATEGORIES)}),
]
Latitude = Annotated[Coordinate, Field(ge=-LATITUDE_LIMIT, le=LATITUDE_LIMIT)]


def _integral(value: object) -> object:
    # JSON Schema's "integer" includes 12.0; strings and booleans stay refused (strict).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_integral), Field(strict=True)]


def _card_amount(value: float) -> float:
    problem = card_amount_problem(value)
    if problem:
        raise ValueError(problem)
    return value


CardAmount = Annotated[
    float,
    Field(ge=0, le=MAX_AMOUNT, strict=True, allow_inf_nan=False),
    AfterValidator(_card_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "const": 0},
                {"type": "number", "minimum": MIN_POSITIVE_AMOUNT, "maximum": MAX_AMOUNT},
            ],
            "description": f"in the card's currency: 0 (an account check) or from "
            f"{MIN_POSITIVE_AMOUNT:g} to {MAX_AMOUNT:g}",
        }
    ),
]
Longitude = Annotated[Coordinate, Field(ge=-LONGITUDE_LIMIT, le=LONGITUDE_LIMIT)]


class CardDetails(BaseModel):
    """The card transaction itself. Unknown keys are refused: they are usually typos."""

    model_config = ConfigDict(extra="forbid")

    card_token: SubjectId = Field(
        description="the issuer's token for the card, never a card number: 13-19 digits "
        "passing the Luhn check are refused"
    )
    amount: CardAmount
    merchant_id: SubjectId = Field(
        description="the acquirer's merchant id, never a card number: 13-19 digits passing "
        "the Luhn check are refused"
    )
    merchant_category: MerchantCategory = Field(
        description="the channel is the suffix: _net (card not present), _pos (card present)"
    )
    merchant_lat: Latitude
    merchant_lon: Longitude
    home_lat: Latitude = Field(description="the cardholder's home; used for a distance only")
    home_lon: Longitude
    city_pop: WholeNumber = Field(ge=0, le=MAX_CITY_POPULATION)
    date_of_birth: IsoDate = Field(description="YYYY-MM-DD; used for the age only")
    gender: Literal["F", "M", "X"] | None = Field(
        None, description="for fairness reporting only: never a model input"
    )


class CardPredictRequest(BaseModel):
    """POST /predict body for a card transaction (schema version 2)."""

    model_config = ConfigDict(extra="forbid")

    metadata: TransactionMetadata
    transaction: CardDetails

    @model_validator(mode="after")
    def _plausible_age(self) -> CardPredictRequest:
        born = self.transaction.date_of_birth
        on = self.metadata.timestamp.date()
        if born > on:
            raise ValueError("transaction.date_of_birth is after the transaction's timestamp")
        if on.year - born.year > MAX_AGE_YEARS:
            raise ValueError(f"transaction.date_of_birth is more than {MAX_AGE_YEARS} years ago")
        return self

    @property
    def amount(self) -> float:
        return self.transaction.amount


class AnomalyResult(BaseModel):
    score: float


class ClassifierResult(BaseModel):
    pred_proba: float = Field(
        ge=0,
        le=1,
        description="probability of fraud at the production fraud rate: the classifier "
        "endpoint's raw score calibrated by the policy (docs/MODELS.md)",
    )
    prediction: Literal[0, 1] = Field(description="1 when pred_proba reaches the decline threshold")


class FeatureReason(BaseModel):
    """One reason a model gave: a feature (or a detector's term), its value and its part."""

    feature: str
    value: float | None = None
    contribution: float = Field(
        description="the classifier: the feature's TreeSHAP contribution toward fraud, in "
        "log-odds; the anomaly detector: the term's part of its score"
    )
    text: str


class Reasons(BaseModel):
    """Why the models scored a transaction as they did (reviews and declines only)."""

    model: list[FeatureReason] = Field(
        description="the classifier's largest contributions toward fraud, largest first"
    )
    model_bias: float = Field(
        description="the classifier's base value: with every feature's contribution it adds "
        "up to its margin (log-odds)"
    )
    anomaly: list[FeatureReason] = Field(
        description="the anomaly detector's largest terms, largest first"
    )
    feature_set_version: str | None = Field(
        None, description="the card feature set the texts describe"
    )


RuleInput = bool | int | float | str


class FiredRule(BaseModel):
    rule_id: str
    version: int
    action: RuleAction
    reason: str
    values: dict[str, RuleInput] = Field(description="the fields the rule names, as it saw them")
    adjustment: float | None = None


class RuleFaultRecord(BaseModel):
    rule_id: str
    shadow: bool
    message: str


class RulesApplied(BaseModel):
    """What the rules did (docs/RULES.md): which version decided, what fired, what shadow
    rules would have done."""

    ruleset_version: str
    list_versions: dict[str, int] = Field(default_factory=dict)
    model_decision: Decision = Field(description="the decision of the model alone")
    decided_by: str | None = Field(
        None, description="the rule that made the decision; null: the model did"
    )
    adjustment: float = 0.0
    fired: list[FiredRule] = Field(default_factory=list)
    shadow_fired: list[FiredRule] = Field(default_factory=list)
    shadow_decision: Decision = Field(description="the decision had the shadow rules been live too")
    faults: list[RuleFaultRecord] = Field(default_factory=list)


class PredictResponse(BaseModel):
    schema_version: int = SCHEMA_VERSION
    event_id: str
    anomaly_detector: AnomalyResult
    fraud_classifier: ClassifierResult
    decision: Decision
    model_version: str
    policy_version: str
    rules: RulesApplied | None = None
    reasons: Reasons | None = None


class CardEvent(BaseModel):
    """What a card transaction's event carries beyond the common fields: enough to rebuild
    the online store from the rows (`fraudit features rebuild`), never a card number."""

    card_token: str
    merchant_id: str
    merchant_category: str
    merchant_lat: float
    merchant_lon: float
    # Its number in its card's arrival order (features look only at earlier ones).
    store_arrival: int = Field(ge=1)
    # Its number in each entity's own order, by entity ("card", "merchant", "device",
    # "ip"): what a rebuild replays. Events written before carry `store_arrival` only.
    store_arrivals: dict[str, int] = Field(default_factory=dict)


class ShadowScores(BaseModel):
    """A candidate model's scores of the same row the live models scored, and what its
    policy alone would have decided. It decided nothing: the backtest compares it with the
    live model (docs/BACKTESTS.md)."""

    model_version: str
    policy_version: str
    fraud_proba: float = Field(ge=0, le=1, description="calibrated by the candidate's policy")
    anomaly_score: float = Field(allow_inf_nan=False)
    decision: Decision = Field(description="the candidate policy's decision, without rules")


class ScoredEvent(BaseModel):
    """One Kinesis record (partition key: user_id). Readers must ignore unknown fields."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    event_id: str
    timestamp: UtcDatetime
    scored_at: UtcDatetime
    user_id: str
    source: str
    amount: float = Field(ge=0, le=MAX_AMOUNT)
    fraud_prediction: Literal[0, 1]
    fraud_proba: float = Field(ge=0, le=1)
    anomaly_score: float
    decision: Decision
    model_version: str
    policy_version: str
    ip_address: str | None = None
    device_info: DeviceInfo | None = None
    geo: Geo | None = None
    # Card transactions: the transaction's own details, the feature vector it was scored
    # on and the version of the definitions that computed it.
    card: CardEvent | None = None
    features: CardVector | None = None
    feature_set_version: str | None = None
    # The ruleset that decided with the model (every event since rules), and the models'
    # reasons (reviews and declines).
    rules: RulesApplied | None = None
    reasons: Reasons | None = None
    # A candidate model's scores of the same row, when one scores in shadow.
    shadow: ShadowScores | None = None
