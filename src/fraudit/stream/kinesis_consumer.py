"""A Spark 4 Python streaming data source for Kinesis (local runs; Glue uses its own).

    spark.dataSource.register(KinesisDataSource)
    spark.readStream.format("kinesis").option("streamName", "fraud-predictions")
        .option("endpointUrl", "http://127.0.0.1:4567").option("startingPosition",
        "TRIM_HORIZON").load()

Rows: data (binary), shard_id, sequence_number, arrival_time (RAW_RECORD_SCHEMA).
The driver-side simple reader is used: Kinesis cannot tell where a shard ends without
reading it, so planning partitions per shard costs a read of its own (see docs/STREAMING.md).
Offsets record, per shard, where reading began and the last sequence number read, so a
restart replays exactly the logged range. Options (case-insensitive): streamName,
endpointUrl, region, startingPosition (TRIM_HORIZON | LATEST | AT_TIMESTAMP),
startingTimestamp (epoch ms or ISO-8601, for AT_TIMESTAMP), maxRecordsPerTrigger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pyspark.sql.datasource import DataSource, SimpleDataSourceStreamReader
from pyspark.sql.streaming.datasource import SupportsTriggerAvailableNow
from pyspark.sql.types import StructType

from fraudit.backoff import Backoff, retry
from fraudit.stream.kinesis_offsets import (
    AT_TIMESTAMP,
    LATEST,
    STARTING_POSITIONS,
    TRIM_HORIZON,
    add_new_shards,
    ending_sequence,
    iterator_args,
    read_through,
    readable,
    seq_le,
)
from fraudit.stream.schema import RAW_RECORD_SCHEMA

log = logging.getLogger("fraudit.stream.kinesis_consumer")
THROTTLED_BACKOFF = Backoff(0.1, 2.0, jitter=False)
MAX_GET_RECORDS = 10_000
OFFSET_VERSION = 1


def _starting_point(options: dict[str, str]) -> str:
    position = options.get("startingposition", TRIM_HORIZON).upper()
    if position == TRIM_HORIZON:
        return TRIM_HORIZON
    if position == LATEST:  # pinned as a time so a replay reads the same records
        return f"ts:{int(time.time() * 1000)}"
    if position == AT_TIMESTAMP:
        raw = options.get("startingtimestamp")
        if not raw:
            raise ValueError("startingPosition AT_TIMESTAMP needs startingTimestamp")
        millis = (
            int(raw)
            if raw.isdigit()
            else int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
        )
        return f"ts:{millis}"
    raise ValueError(f"unknown startingPosition {position!r}: use {', '.join(STARTING_POSITIONS)}")


class KinesisStreamReader(SimpleDataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = {k.lower(): v for k, v in options.items()}
        if "streamname" not in self.options:
            raise ValueError("option streamName is required")
        self.stream = self.options["streamname"]
        self.limit = int(self.options.get("maxrecordspertrigger", "10000"))
        self._client: Any = None  # created lazily: readers are pickled
        self._start = _starting_point(self.options)
        self._cutoff: datetime | None = None  # Trigger.AvailableNow: arrivals up to here
        self._ahead: _ReadAhead | None = None  # the next batch, read while Spark works

    def prepareForTriggerAvailableNow(self) -> None:
        """Read what had arrived when the query started, in as many batches as
        maxRecordsPerTrigger needs, then stop: records that arrive later are left for the
        next run (Kinesis has no "latest offset" to pin, its arrival times stand in)."""
        self._cutoff = datetime.now(UTC)

    @property
    def client(self) -> Any:
        if self._client is None:
            from fraudit.aws_clients import aws_client, client_config

            self._client = aws_client(
                "kinesis",
                region=self.options.get("region", "us-east-1"),
                endpoint_url=self.options.get("endpointurl") or None,
                config=client_config(connect_timeout=5, read_timeout=10, max_attempts=3),
            )
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        state["_ahead"] = None
        return state

    def _shards(self) -> list[dict[str, Any]]:
        shards, token = [], None
        while True:
            args = {"NextToken": token} if token else {"StreamName": self.stream}
            page = self._call("list_shards", **args)
            shards += page["Shards"]
            token = page.get("NextToken")
            if not token:
                return shards

    def _call(self, name: str, **kwargs: Any) -> Any:
        """Kinesis call with backoff on throttling (ProvisionedThroughputExceeded)."""
        return retry(
            lambda: getattr(self.client, name)(**kwargs),
            retry_on=self.client.exceptions.ProvisionedThroughputExceededException,
            backoff=THROTTLED_BACKOFF,
            attempts=8,
        )

    def initialOffset(self) -> dict:
        shards = add_new_shards({}, self._shards(), self._start)
        return {"v": OFFSET_VERSION, "shards": shards}

    def _read_shard(
        self,
        shard_id: str,
        entry: dict[str, Any],
        budget: int,
        stop_after: str | None = None,
        ending: str | None = None,
    ) -> tuple[list[tuple], dict[str, Any]]:
        """Records after `entry`'s position, up to `budget` (or through `stop_after`)."""
        entry = dict(entry)
        rows: list[tuple] = []
        iterator = self._call(
            "get_shard_iterator", StreamName=self.stream, ShardId=shard_id, **iterator_args(entry)
        )["ShardIterator"]
        while iterator and len(rows) < budget:
            try:
                page = self._call(
                    "get_records",
                    ShardIterator=iterator,
                    Limit=min(MAX_GET_RECORDS, budget - len(rows)),
                )
            except self.client.exceptions.ExpiredIteratorException:
                iterator = self._call(
                    "get_shard_iterator",
                    StreamName=self.stream,
                    ShardId=shard_id,
                    **iterator_args(entry),
                )["ShardIterator"]
                continue
            for record in page["Records"]:
                seq = record["SequenceNumber"]
                if stop_after is not None and not seq_le(seq, stop_after):
                    return rows, entry
                arrival = record.get("ApproximateArrivalTimestamp")
                if (
                    stop_after is None
                    and self._cutoff is not None
                    and arrival is not None
                    and arrival > self._cutoff
                ):
                    return rows, entry  # arrived after an AvailableNow query started
                rows.append(
                    (
                        bytes(record["Data"]),
                        shard_id,
                        seq,
                        arrival.astimezone(UTC).replace(tzinfo=None) if arrival else None,
                    )
                )
                entry["after"] = seq
                if stop_after is not None and seq == stop_after:
                    return rows, entry
            iterator = page.get("NextShardIterator")
            if iterator is None or read_through(entry, ending):  # closed, read to its end
                entry["done"] = True
                break
            elif not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break  # caught up with the open shard
        return rows, entry

    def _read_from(self, start: dict, budget: int) -> tuple[list[tuple], dict]:
        shards = self._shards()
        offsets = add_new_shards(start["shards"], shards, TRIM_HORIZON)
        rows: list[tuple] = []
        endings = {s["ShardId"]: ending_sequence(s) for s in shards}
        for shard_id in readable(offsets, shards):
            left = budget - len(rows)
            if left <= 0:
                break
            shard_rows, offsets[shard_id] = self._read_shard(
                shard_id, offsets[shard_id], left, ending=endings[shard_id]
            )
            rows += shard_rows
        # A parent just finished may unblock its children: they are read next trigger.
        return rows, {"v": OFFSET_VERSION, "shards": offsets}

    def read(self, start: dict) -> tuple[Iterator[tuple], dict]:
        """The records after `start`, up to maxRecordsPerTrigger. The next batch is read
        ahead in a thread while Spark processes this one: when Spark then asks for it, the
        records read ahead are topped up with any that arrived since, so a batch is never
        staler than a read made at that moment."""
        ahead, self._ahead = self._ahead, None
        rows: list[tuple] | None = None
        if ahead is not None:
            done = ahead.result()  # also when unused: never two readers on one client
            if done is not None and done[0] == start:
                rows, end = done[1], done[2]
        if rows is None:
            rows, end = self._read_from(start, self.limit)
        elif len(rows) < self.limit:
            more, end = self._read_from(end, self.limit - len(rows))
            rows = rows + more
        self._ahead = _ReadAhead(self, end)
        return iter(rows), end

    def readBetweenOffsets(self, start: dict, end: dict) -> Iterator[tuple]:
        """Replay after a restart: exactly the records between the two logged offsets."""
        rows: list[tuple] = []
        for shard_id, end_entry in sorted(end["shards"].items()):
            begin = start["shards"].get(shard_id) or {"from": end_entry["from"], "after": None}
            if not end_entry.get("after") or begin.get("after") == end_entry["after"]:
                continue
            shard_rows, _ = self._read_shard(
                shard_id, begin, budget=10**9, stop_after=end_entry["after"]
            )
            rows += shard_rows
        return iter(rows)

    def commit(self, end: dict) -> None:
        return None  # Kinesis keeps records for their retention period; nothing to ack


class _ReadAhead:
    """Reads the batch after `start` in a daemon thread (a stopping query never waits on
    it); result() is (start, rows, end), or None if the read failed: the caller then reads
    again itself and sees the error, if it lasts."""

    def __init__(self, reader: KinesisStreamReader, start: dict) -> None:
        self._start = start
        self._done = threading.Event()
        self._result: tuple[dict, list[tuple], dict] | None = None
        self._reader = reader
        threading.Thread(target=self._run, name="kinesis-read-ahead", daemon=True).start()

    def _run(self) -> None:
        try:
            rows, end = self._reader._read_from(self._start, self._reader.limit)
            self._result = (self._start, rows, end)
        except Exception:
            log.debug("read-ahead failed; the next batch is read directly", exc_info=True)
        finally:
            self._done.set()

    def result(self) -> tuple[dict, list[tuple], dict] | None:
        self._done.wait()
        return self._result


class KinesisDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "kinesis"

    def schema(self) -> StructType:
        return RAW_RECORD_SCHEMA

    def simpleStreamReader(self, schema: StructType) -> SimpleDataSourceStreamReader:
        return KinesisStreamReader(dict(self.options))
