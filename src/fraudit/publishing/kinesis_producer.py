"""Kinesis publisher: put_record for one event, put_records for a batch.

- Throttling and transient faults are retried with exponential backoff and full jitter.
- PutRecords answers 200 even when some records failed: each record's ErrorCode is checked
  and only the failed ones are sent again.
- What still fails after the last attempt is reported per event, so the API answers 503
  for exactly those transactions and 200 only for events that are on the stream.
- A timed-out call may have been stored: resending it can put the event on the stream
  twice. That is safe because the event_id is the idempotency key downstream (the loader
  inserts ON CONFLICT (event_id) DO NOTHING); losing an event is not. When the last attempt
  timed out, the outcome says `unknown`: the event may be on the stream.
- Every attempt starts only if it can end (connect + read timeout) before the request's
  deadline, so the caller answers in time.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from fraudit.backoff import Backoff
from fraudit.deadline import Deadline, no_deadline

log = logging.getLogger("fraudit.publishing")

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
MAX_RECORDS_PER_CALL = 500
# Kinesis's own limits on one record: data plus partition key, and the key's length.
MAX_RECORD_BYTES = 1_048_576
MAX_PARTITION_KEY_LENGTH = 256


class PublishError(RuntimeError):
    """An event could not be put on the stream after every attempt."""


@dataclass(frozen=True)
class PublishOutcome:
    """Per event of a batch: its sequence number, or why it is not on the stream."""

    sequence_number: str | None = None
    error: str | None = None
    # The last attempt timed out after sending: the record may be on the stream.
    unknown: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class KinesisPublisher:
    def __init__(
        self,
        client: Any,
        stream_name: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
        attempt_timeout: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """`attempt_timeout`: the longest one call can take (the client's connect plus read
        timeout); an attempt is not started unless it fits before the deadline."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._client = client
        self.stream_name = stream_name
        self._max_attempts = max_attempts
        self._attempt_timeout = attempt_timeout
        self._backoff_delays = Backoff(base_delay, max_delay, rng or random.Random())  # noqa: S311 - jitter
        self._sleep = sleep

    def _may_attempt(self, attempt: int, deadline: Deadline) -> bool:
        """Back off before `attempt` (from 0; the first waits for nothing); False when the
        attempt could not end before the deadline."""
        delay = self._backoff_delays.delay(attempt - 1) if attempt else 0.0
        if not deadline.allows(delay + self._attempt_timeout):
            return False
        if delay:
            self._sleep(delay)
        return True

    @staticmethod
    def _retryable(exc: Exception) -> tuple[bool, str, bool]:
        """(retryable, reason for the log, whether the record may have been stored)."""
        if isinstance(exc, ClientError):
            details = exc.response.get("Error", {})
            code = details.get("Code", "")
            return code in RETRYABLE_CODES, f"{code}: {details.get('Message', '')}", False
        # BotoCoreError: a refused or timed-out connection sent nothing; a read timeout or
        # a dropped connection may have come after Kinesis stored the record.
        sent = not isinstance(exc, (ConnectTimeoutError, EndpointConnectionError))
        return True, f"{type(exc).__name__}: {exc}", sent

    def publish(self, data: bytes, partition_key: str, deadline: Deadline | None = None) -> str:
        """Put one record; returns its sequence number or raises PublishError."""
        (outcome,) = self.publish_many([(data, partition_key)], deadline)
        if outcome.sequence_number is None:
            raise PublishError(outcome.error or "not published")
        return outcome.sequence_number

    def publish_many(
        self, records: Sequence[tuple[bytes, str]], deadline: Deadline | None = None
    ) -> list[PublishOutcome]:
        """Put records (data, partition key) with as few calls as possible (PutRecord for
        one, PutRecords for more), resending only failures. One outcome per record."""
        deadline = deadline or no_deadline()
        if len(records) == 1:
            return [self._publish_one(*records[0], deadline)]
        outcomes: list[PublishOutcome | None] = [None] * len(records)
        for start in range(0, len(records), MAX_RECORDS_PER_CALL):
            indices = list(range(start, min(start + MAX_RECORDS_PER_CALL, len(records))))
            self._publish_chunk(records, indices, outcomes, deadline)
        return [o or PublishOutcome(error="not attempted") for o in outcomes]

    def _publish_one(self, data: bytes, partition_key: str, deadline: Deadline) -> PublishOutcome:
        reason, maybe_stored = "not attempted: no time left before the deadline", False
        for attempt in range(self._max_attempts):
            if not self._may_attempt(attempt, deadline):
                break
            try:
                response = self._client.put_record(
                    StreamName=self.stream_name, Data=data, PartitionKey=partition_key
                )
                return PublishOutcome(sequence_number=str(response["SequenceNumber"]))
            except (ClientError, BotoCoreError) as exc:
                retryable, reason, sent = self._retryable(exc)
                maybe_stored = maybe_stored or sent
                log.warning("put_record attempt %d failed: %s", attempt + 1, reason)
                if not retryable:
                    break
        return PublishOutcome(error=f"not published: {reason}", unknown=maybe_stored)

    def _publish_chunk(
        self,
        records: Sequence[tuple[bytes, str]],
        pending: list[int],
        outcomes: list[PublishOutcome | None],
        deadline: Deadline,
    ) -> None:
        reasons: dict[int, str] = dict.fromkeys(pending, "not attempted: no time left")
        maybe_stored: set[int] = set()
        for attempt in range(self._max_attempts):
            if not self._may_attempt(attempt, deadline):
                break
            entries = [{"Data": records[i][0], "PartitionKey": records[i][1]} for i in pending]
            try:
                response = self._client.put_records(StreamName=self.stream_name, Records=entries)
            except (ClientError, BotoCoreError) as exc:
                retryable, reason, sent = self._retryable(exc)
                reasons = dict.fromkeys(pending, reason)
                if sent:
                    maybe_stored.update(pending)
                log.warning("put_records attempt %d failed whole: %s", attempt + 1, reason)
                if not retryable:
                    break
                continue
            still: list[int] = []
            for index, result in zip(pending, response["Records"], strict=True):
                if "SequenceNumber" in result and not result.get("ErrorCode"):
                    outcomes[index] = PublishOutcome(sequence_number=result["SequenceNumber"])
                    continue
                code = result.get("ErrorCode", "Unknown")
                reasons[index] = f"{code}: {result.get('ErrorMessage', '')}"
                if code in RETRYABLE_CODES:
                    still.append(index)
                else:
                    outcomes[index] = PublishOutcome(error=reasons[index])
            pending = still
            if not pending:
                return
            log.warning(
                "put_records attempt %d: %d record(s) failed, resending those",
                attempt + 1,
                len(pending),
            )
        for index in pending:
            outcomes[index] = PublishOutcome(
                error=f"not published: {reasons.get(index, 'unknown')}",
                unknown=index in maybe_stored,
            )
