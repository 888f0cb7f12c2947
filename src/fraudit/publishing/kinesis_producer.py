"""Kinesis publisher: put_record for one event, put_records for a batch.

- Throttling and transient faults are retried with exponential backoff and full jitter.
- PutRecords answers 200 even when some records failed: each record's ErrorCode is checked
  and only the failed ones are sent again.
- What still fails after the last attempt is reported per event, so the API answers 503
  for exactly those transactions and 200 only for events that are on the stream.
- A timed-out call may have been stored: resending it can put the event on the stream
  twice. That is safe because the event_id is the idempotency key downstream (the loader
  inserts ON CONFLICT (event_id) DO NOTHING); losing an event is not.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraudit.backoff import Backoff

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


class PublishError(RuntimeError):
    """An event could not be put on the stream after every attempt."""


@dataclass(frozen=True)
class PublishOutcome:
    """Per event of a batch: its sequence number, or why it is not on the stream."""

    sequence_number: str | None = None
    error: str | None = None

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
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._client = client
        self.stream_name = stream_name
        self._max_attempts = max_attempts
        self._backoff_delays = Backoff(base_delay, max_delay, rng or random.Random())  # noqa: S311 - jitter
        self._sleep = sleep

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._backoff_delays.delay(attempt))

    @staticmethod
    def _retryable(exc: Exception) -> tuple[bool, str]:
        if isinstance(exc, ClientError):
            details = exc.response.get("Error", {})
            code = details.get("Code", "")
            return code in RETRYABLE_CODES, f"{code}: {details.get('Message', '')}"
        return True, f"{type(exc).__name__}: {exc}"  # BotoCoreError: connection, timeout

    def publish(self, data: bytes, partition_key: str) -> str:
        """Put one record; returns its sequence number or raises PublishError."""
        reason = "not attempted"
        for attempt in range(self._max_attempts):
            try:
                response = self._client.put_record(
                    StreamName=self.stream_name, Data=data, PartitionKey=partition_key
                )
                return str(response["SequenceNumber"])
            except (ClientError, BotoCoreError) as exc:
                retryable, reason = self._retryable(exc)
                if not retryable:
                    break
                log.warning("put_record attempt %d failed: %s", attempt + 1, reason)
                if attempt + 1 < self._max_attempts:
                    self._backoff(attempt)
        raise PublishError(f"event not published after {attempt + 1} attempt(s): {reason}")

    def publish_many(self, records: Sequence[tuple[bytes, str]]) -> list[PublishOutcome]:
        """Put records (data, partition key) with as few PutRecords calls as possible,
        resending only failures. One outcome per record, in order."""
        outcomes: list[PublishOutcome | None] = [None] * len(records)
        for start in range(0, len(records), MAX_RECORDS_PER_CALL):
            indices = list(range(start, min(start + MAX_RECORDS_PER_CALL, len(records))))
            self._publish_chunk(records, indices, outcomes)
        return [o or PublishOutcome(error="not attempted") for o in outcomes]

    def _publish_chunk(
        self,
        records: Sequence[tuple[bytes, str]],
        pending: list[int],
        outcomes: list[PublishOutcome | None],
    ) -> None:
        reasons: dict[int, str] = {}
        for attempt in range(self._max_attempts):
            entries = [{"Data": records[i][0], "PartitionKey": records[i][1]} for i in pending]
            try:
                response = self._client.put_records(StreamName=self.stream_name, Records=entries)
            except (ClientError, BotoCoreError) as exc:
                retryable, reason = self._retryable(exc)
                reasons = dict.fromkeys(pending, reason)
                if not retryable:
                    break
                log.warning("put_records attempt %d failed whole: %s", attempt + 1, reason)
            else:
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
            if attempt + 1 < self._max_attempts:
                self._backoff(attempt)
        for index in pending:
            outcomes[index] = PublishOutcome(
                error=f"not published after retries: {reasons.get(index, 'unknown')}"
            )
