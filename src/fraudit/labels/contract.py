"""A label's contract, written once for every way in (a file import, `POST /labels`, the
stream record the API publishes): what it says, how its identity is derived so that a label
sent twice is stored once, and which of two disagreeing labels wins. Pure."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fraudit.contracts import EventTime, Identifier, ShortText
from fraudit.validity import MAX_AMOUNT

# `record_type` of a label on the stream (events have none).
LABEL_RECORD_TYPE: Literal["label"] = "label"
MAX_LABELS_PER_REQUEST = 1000


class LabelSource(StrEnum):
    CHARGEBACK = "chargeback"
    EARLY_FRAUD_WARNING = "early_fraud_warning"
    MANUAL = "manual"
    REVIEW = "review"


# Which label of an event wins when several were reported by the as-of date: the source
# first, in this order (an issuer's chargeback is the cardholder's sworn word; an early
# fraud warning is the issuer's notice before it; a manual label is the team's correction;
# a review is an analyst's judgement on the evidence the model saw), then the latest
# report, then the label id (so the choice never depends on storage order).
SOURCE_PRECEDENCE: tuple[LabelSource, ...] = (
    LabelSource.CHARGEBACK,
    LabelSource.EARLY_FRAUD_WARNING,
    LabelSource.MANUAL,
    LabelSource.REVIEW,
)

LabelValue = Literal["fraud", "genuine"]
FRAUD: LabelValue = "fraud"
GENUINE: LabelValue = "genuine"
# Strict: JSON's false or "12.5" is not an amount (a file's text is read as a number first).
LabelAmount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, strict=True, allow_inf_nan=False)]

# The columns of a label, in the order files and the table name them.
LABEL_FIELDS: tuple[str, ...] = (
    "event_id",
    "label",
    "source",
    "reported_at",
    "occurred_at",
    "reason_code",
    "amount",
)
REQUIRED_LABEL_FIELDS: tuple[str, ...] = ("event_id", "label", "source", "reported_at")


class Label(BaseModel):
    """What one source reported about one decision's transaction."""

    # The rule between two fields, stated in the document too (JSON Schema's if/then), so
    # what a client reads there is what the API accepts.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "if": {"properties": {"label": {"const": GENUINE}}, "required": ["label"]},
            "then": {"properties": {"occurred_at": {"type": "null"}}},
        },
    )

    event_id: Identifier = Field(description="the event_id the decision was answered with")
    label: LabelValue
    source: LabelSource
    reported_at: EventTime = Field(description="when the source reported it (RFC 3339)")
    occurred_at: EventTime | None = Field(
        None, description="when the fraud happened, where the source says so"
    )
    reason_code: ShortText | None = Field(None, description="the network's or team's code")
    amount: LabelAmount | None = Field(None, description="the amount disputed or confirmed")

    @model_validator(mode="after")
    def _genuine_has_no_fraud_time(self) -> Label:
        if self.label == GENUINE and self.occurred_at is not None:
            raise ValueError("occurred_at is the fraud's time: a genuine label has none")
        return self

    def label_id(self) -> str:
        """The label's identity: a digest of everything it says, so the same label sent or
        imported again is recognised and stored once."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "lb-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class LabelsRequest(BaseModel):
    """`POST /labels`: up to MAX_LABELS_PER_REQUEST labels, taken all or none."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Label] = Field(min_length=1, max_length=MAX_LABELS_PER_REQUEST)


class LabelsAccepted(BaseModel):
    accepted: int
    label_ids: list[str]


class LabelRecord(BaseModel):
    """A label on the stream, as the API publishes it and the stream job loads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_type: Literal["label"] = LABEL_RECORD_TYPE
    label_id: str = Field(pattern=r"^lb-[0-9a-f]{32}$")
    label: Label
    received_at: datetime
    received_by: ShortText

    @model_validator(mode="after")
    def _id_matches(self) -> LabelRecord:
        if self.label.label_id() != self.label_id:
            raise ValueError("label_id is not the digest of the label")
        return self


def label_record(label: Label, received_at: datetime, received_by: str) -> LabelRecord:
    return LabelRecord(
        label_id=label.label_id(), label=label, received_at=received_at, received_by=received_by
    )
