"""Where the API finds the published ruleset, and how it keeps it fresh without a restart
(docs/RULES.md, "Publishing"): an S3 object on AWS, a file locally; at most every
`refresh_seconds` a conditional read (S3's ETag; a file's size and modification time), on
the request that finds the interval over (a Lambda runs nothing between invocations). A new
document is compiled before it is swapped in; one that does not compile leaves the last
good version serving, counted and logged for the alarm."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from fraudit.families import ModelFamily
from fraudit.rules.document import RulesetDocument, RulesetError, empty_ruleset
from fraudit.rules.engine import CompiledRuleset

log = logging.getLogger("fraudit.rules")

# A log line CloudWatch turns into the metric the ruleset alarm watches (the embedded metric
# format; devops/infra/alarms.tf).
METRIC_NAMESPACE = "fraudit"
REFRESH_FAILED_METRIC = "RulesetRefreshFailed"


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: nothing is published there (an empty ruleset)
    tag: str


class RulesetSource(Protocol):
    where: str

    def fetch(self, tag: str | None) -> Fetched | None:
        """The document, or None when it is unchanged since `tag`."""
        ...


class FileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def fetch(self, tag: str | None) -> Fetched | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None if tag == "absent" else Fetched(None, "absent")
        seen = f"{stat.st_mtime_ns}-{stat.st_size}"
        if seen == tag:
            return None
        return Fetched(self.path.read_bytes(), seen)


class S3Source:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.where = f"s3://{bucket}/{key}"

    def fetch(self, tag: str | None) -> Fetched | None:
        extra = {"IfNoneMatch": tag} if tag and tag != "absent" else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key, **extra)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or error.get("Code") in ("304", "NotModified"):
                return None
            if error.get("Code") in ("NoSuchKey", "404"):
                return None if tag == "absent" else Fetched(None, "absent")
            raise
        return Fetched(response["Body"].read(), str(response["ETag"]))


def source_of(uri: str, s3_client: Callable[[], Any]) -> RulesetSource:
    """`s3://bucket/key` or a file path."""
    url = urlparse(uri)
    if url.scheme == "s3":
        if not url.netloc or not url.path.strip("/"):
            raise RulesetError(f"a ruleset's S3 address is s3://bucket/key, got {uri!r}")
        return S3Source(s3_client(), url.netloc, url.path.lstrip("/"))
    return FileSource(Path(uri))


def writer_of(uri: str, s3_client: Callable[[], Any]) -> Callable[[bytes], None]:
    """How `fraudit rules publish` writes the document where `uri` says: an S3 object, or a
    file replaced whole (a reader never sees half a document)."""
    url = urlparse(uri)
    if url.scheme == "s3":
        if not url.netloc or not url.path.strip("/"):
            raise RulesetError(f"a ruleset's S3 address is s3://bucket/key, got {uri!r}")
        client = s3_client()

        def put(body: bytes) -> None:
            client.put_object(
                Bucket=url.netloc,
                Key=url.path.lstrip("/"),
                Body=body,
                ContentType="application/json",
            )

        return put
    path = Path(uri)

    def replace(body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(body)
        partial.replace(path)

    return replace


def _emit_refresh_failure(where: str, error: str) -> None:
    log.error(
        "ruleset at %s was not served: %s; the last good version keeps serving",
        where,
        error,
        extra={
            "fields": {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": METRIC_NAMESPACE,
                            "Dimensions": [[]],
                            "Metrics": [{"Name": REFRESH_FAILED_METRIC, "Unit": "Count"}],
                        }
                    ],
                },
                REFRESH_FAILED_METRIC: 1,
            }
        },
    )


class RulesetProvider(Protocol):
    def current(self) -> CompiledRuleset:
        """The ruleset to decide with now."""
        ...


class FixedRuleset:
    """One compiled ruleset, never refreshed (tests, and an API without a published one)."""

    def __init__(self, ruleset: CompiledRuleset) -> None:
        self._ruleset = ruleset

    def current(self) -> CompiledRuleset:
        return self._ruleset


class LiveRuleset:
    """The compiled ruleset the API decides with, refreshed in place.

    At start the document must compile (an API never starts without the team's block rules
    because their document broke); later, a document that does not compile is refused and
    the last good one serves on."""

    def __init__(
        self,
        source: RulesetSource,
        families: Sequence[ModelFamily],
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.families = tuple(families)
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self.last_error: str | None = None
        fetched = source.fetch(None)
        assert fetched is not None
        self._tag = fetched.tag
        self._current = self._compile(fetched)
        self._checked = clock()

    def _compile(self, fetched: Fetched) -> CompiledRuleset:
        if fetched.body is None:
            document = empty_ruleset(datetime.now(UTC))
        else:
            document = RulesetDocument.from_json(fetched.body)
        return CompiledRuleset(document, self.families)

    def current(self) -> CompiledRuleset:
        """The ruleset to decide with now: checked for a new version when the interval is
        over (one request checks; the others go on with the current one)."""
        if self._clock() - self._checked < self.refresh_seconds:
            return self._current
        if not self._lock.acquire(blocking=False):
            return self._current
        try:
            self._refresh()
        finally:
            self._checked = self._clock()
            self._lock.release()
        return self._current

    def _refresh(self) -> None:
        try:
            fetched = self.source.fetch(self._tag)
            if fetched is None:
                return
            compiled = self._compile(fetched)
        except (RulesetError, ClientError, OSError) as exc:
            self.failures += 1
            self.last_error = str(exc)
            _emit_refresh_failure(self.source.where, str(exc))
            return
        self._tag = fetched.tag
        self._current = compiled  # one reference swap: a request sees one version whole
        self.last_error = None
        log.info("ruleset %s now serving (from %s)", compiled.version, self.source.where)
