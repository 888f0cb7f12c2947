"""`POST /labels`: labels are checked against their contract and published to the event
stream, from which the stream job stores them (the Lambda never writes PostgreSQL). All of a
request's labels or none are accepted; a label's id is the digest of what it says, so a
client retrying a request that failed or timed out stores each label once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from fraudit.api.plan import ApiResult, error, validation_details
from fraudit.deadline import Deadline
from fraudit.labels.contract import LabelRecord, LabelsAccepted, LabelsRequest, label_record
from fraudit.publishing.kinesis_producer import KinesisPublisher

log = logging.getLogger("fraudit.api.labels")
RECEIVED_BY = "api"


class LabelIntake:
    def __init__(
        self,
        publisher: KinesisPublisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._clock = clock

    def submit(self, payload: object, deadline: Deadline) -> ApiResult:
        try:
            request = LabelsRequest.model_validate(payload)
        except ValidationError as exc:
            return error(
                400,
                "invalid_request",
                "the labels do not match their schema; none was accepted",
                validation_details(exc),
            )
        now = self._clock()
        records: dict[str, LabelRecord] = {}
        for label in request.labels:
            record = label_record(label, now, RECEIVED_BY)
            records.setdefault(record.label_id, record)
        encoded = [
            (r.model_dump_json().encode("utf-8"), r.label.event_id) for r in records.values()
        ]
        outcomes = self._publisher.publish_many(encoded, deadline)
        failed = [o for o in outcomes if not o.ok]
        logged: dict[str, Any] = {"labels": len(records)}
        if failed:
            log.warning("%d of %d labels not confirmed by the stream", len(failed), len(records))
            unknown = any(o.unknown for o in failed)
            body = {
                "error": "stream_unavailable",
                "message": (
                    f"{len(failed)} of {len(records)} labels were not confirmed by the event "
                    "stream; send the same request again (each label is stored once)"
                ),
                "recorded": "unknown" if unknown or len(failed) < len(records) else "no",
            }
            return ApiResult(503, body, {**logged, "error": "stream_unavailable"})
        answer = LabelsAccepted(accepted=len(records), label_ids=list(records))
        return ApiResult(202, answer.model_dump(mode="json"), logged)
