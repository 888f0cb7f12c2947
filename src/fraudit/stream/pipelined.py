"""Pipelined loading for the local job: while PostgreSQL loads micro-batch N in a
background thread, Spark already commits N, reads N+1 from Kinesis and transforms it. The
two halves of a batch no longer add up; the slower one sets the pace.

Spark commits batch N when the foreachBatch call returns, which is now before N is in the
database. Nothing is lost because the database, not the checkpoint, says what was loaded:
each batch's transaction records its batch id in `fraud_stream_progress`, and before the
query starts, `prepare_checkpoint` deletes the checkpoint's commit (and later offset)
files beyond that batch. Spark then replays the unloaded batch from its logged offsets,
exactly as it replays a batch that failed. The writer runs at most one batch behind:
foreachBatch(N+1) waits for write N before it hands N+1 over, and a failed write stops the
query with that error rather than being skipped.

The Glue job keeps the synchronous path (batch.process_batch): its checkpoint is Glue's.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fraudit.db import sql
from fraudit.db.connection import connect, retry_while_unavailable
from fraudit.db.schema import apply_schema
from fraudit.stream.load import CopyBatch, LoadResult, PostgresSink

log = logging.getLogger("fraudit.stream.pipelined")

_BATCH_FILE = re.compile(r"^\.?(\d+)(\.crc)?$")


def checkpoint_key(checkpoint_dir: Path | str) -> str:
    return str(Path(checkpoint_dir).resolve())


def _batch_files(folder: Path) -> dict[int, list[Path]]:
    """Batch id -> its log file and checksum file, in a checkpoint's offsets/ or commits/."""
    found: dict[int, list[Path]] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _BATCH_FILE.match(path.name)
            if match:
                found.setdefault(int(match.group(1)), []).append(path)
    return found


def trim_checkpoint(checkpoint_dir: Path, loaded: int) -> list[int]:
    """Forget what Spark committed beyond the last loaded batch: commits after `loaded`
    and offsets after `loaded + 1` go, so Spark replays batch `loaded + 1` from its logged
    offsets. Returns the batch ids whose commit was removed."""
    commits = _batch_files(checkpoint_dir / "commits")
    offsets = _batch_files(checkpoint_dir / "offsets")
    undone = sorted(b for b in commits if b > loaded)
    for batch in undone:
        for path in commits[batch]:
            path.unlink()
    for batch in (b for b in offsets if b > loaded + 1):
        for path in offsets[batch]:
            path.unlink()
    return undone


def prepare_checkpoint(
    database_url: str, checkpoint_dir: Path, *, max_wait_seconds: float = 120.0
) -> int:
    """Reconcile the checkpoint with the database before the query starts; returns the last
    batch the database holds (-1: none). Waits for a database that is still starting."""
    return retry_while_unavailable(
        lambda: _reconcile(database_url, checkpoint_dir),
        database_url,
        max_wait_seconds=max_wait_seconds,
        logger=log,
    )


def _reconcile(database_url: str, checkpoint_dir: Path) -> int:
    key = checkpoint_key(checkpoint_dir)
    commits = _batch_files(checkpoint_dir / "commits")
    with connect(database_url) as conn:
        apply_schema(conn)
        row = conn.execute(sql.READ_PROGRESS, {"checkpoint": key}).fetchone()
        if not _batch_files(checkpoint_dir / "offsets"):
            loaded = -1  # a new checkpoint: whatever an old one at this path loaded is moot
        elif row is None:
            # A checkpoint of the synchronous job, which loaded each batch before Spark
            # committed it: trust it as it stands.
            loaded = max(commits, default=-1)
        else:
            loaded = int(row[0])
        conn.execute(sql.RECORD_PROGRESS, {"checkpoint": key, "batch_id": loaded})
        conn.commit()
    undone = trim_checkpoint(checkpoint_dir, loaded)
    if undone:
        log.warning(
            "batch(es) %s were committed by Spark but not loaded (the job stopped "
            "mid-write): replaying from the checkpoint's offsets",
            undone,
        )
    return loaded


class BatchWriter:
    """One background thread that loads transformed batches, one at a time, in order."""

    def __init__(self, sink: PostgresSink, checkpoint_dir: Path) -> None:
        self._sink = sink
        self._key = checkpoint_key(checkpoint_dir)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fraudit-writer")
        self._pending: Future[LoadResult] | None = None
        # Called, in a thread of its own, once a write has failed.
        self.on_failure: Callable[[], None] | None = None

    def wait(self) -> LoadResult | None:
        """Block until the batch being written is in the database; its error, if any, is
        raised here."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def submit(self, batch_id: int, table: Any) -> None:
        """Hand over a transformed batch (an Arrow table) once the previous one is loaded."""
        self.wait()
        self._pending = self._executor.submit(self._write, batch_id, table)

    def _write(self, batch_id: int, table: Any) -> LoadResult:
        try:
            result = self._sink.load(CopyBatch.from_arrow(table), (self._key, batch_id))
        except Exception:
            log.exception(
                "batch %d could not be loaded; the query stops with this error and "
                "a restart replays the batch",
                batch_id,
            )
            if self.on_failure is not None:
                # Not from this thread: stopping waits for a batch that may be waiting on us.
                threading.Thread(
                    target=self.on_failure, name="fraudit-writer-failed", daemon=True
                ).start()
            raise
        log.info("batch %d: %s", batch_id, result.summary())
        return result

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)
            self._sink.close()


class PipelinedQuery:
    """A StreamingQuery whose waits also wait for the last batch to be loaded: after
    processAllAvailable(), stop() or awaitTermination() returns, every batch Spark
    processed is in PostgreSQL."""

    def __init__(self, query: Any, writer: BatchWriter) -> None:
        self._query = query
        self._writer = writer
        # A failed write stops the query even when no next batch comes to report it; the
        # error is then raised by awaitTermination() or stop(), from the writer.
        writer.on_failure = query.stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)

    def processAllAvailable(self) -> None:
        self._query.processAllAvailable()
        self._writer.wait()

    def awaitTermination(self, timeout: float | None = None) -> bool | None:
        try:
            return self._query.awaitTermination(timeout)
        finally:
            if not self._query.isActive:
                self._writer.close()

    def stop(self) -> None:
        try:
            self._query.stop()
        finally:
            self._writer.close()
