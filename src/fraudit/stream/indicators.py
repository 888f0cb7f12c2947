"""Windowed risk indicators: rules declared in a TOML file, turned into SQL. Pure: no I/O
beyond reading the rules file; the loader runs the statements inside the batch's
transaction.

How a window is computed. Windows are event-time windows aligned to the Unix epoch, as
Spark's `window()` aligns them: a rule with `window = "5 minutes"` has windows
[12:00, 12:05), [12:05, 12:10), ...; with `slide` shorter than `window` they hop and overlap.
For each batch, the windows its *inserted* rows fall in are re-measured over every stored row
of that entity in that window (an index range scan on (entity, event_time)), and a window
whose value exceeds the threshold is upserted into `fraud_alerts` keyed (rule, entity,
window_start). So:
- the value is exact whatever order or batch the rows arrived in, and a replayed batch
  inserts no row, touches no window and changes no alert;
- an alert is committed in the same transaction as the row that pushed its window over the
  threshold: alert latency is the row's own put-to-visible latency, not the window length;
- the watermark is the largest event time seen (capped at scored_at + max_clock_skew, so a
  client with a clock in the future cannot close everyone's windows) minus
  allowed_lateness. Windows that ended before it are closed: a late row is still stored and
  rolled up, but it no longer changes alerts.
Editing a threshold changes which windows alert from the next batch on; alerts already
raised keep the threshold they were raised under.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_RULES = "rules.toml"

# What a rule may name. Identifiers reach SQL only from these closed sets.
ENTITIES: dict[str, str] = {"user_id": "user", "ip_address": "ip", "device_id": "device"}
NUMERIC_FIELDS = ("amount", "fraud_proba", "anomaly_score", "fraud_prediction")
DISTINCT_FIELDS = ("user_id", "ip_address", "device_id", "country", "source")
Aggregate = Literal["count", "sum", "max", "avg", "count_distinct"]

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+?)s?\s*$")


def parse_duration(text: str | int) -> int:
    """'5 minutes', '15m', '90s', '1 hour' -> seconds."""
    if isinstance(text, int):
        seconds = text
    else:
        match = _DURATION.match(text.lower())
        if not match or match.group(2) not in _UNITS:
            raise ValueError(f"not a duration: {text!r} (say e.g. '5 minutes', '90s', '1h')")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return seconds


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str = ""
    group_by: Literal["user_id", "ip_address", "device_id"]
    aggregate: Aggregate
    field: str | None = None
    window_seconds: int = Field(alias="window")
    slide_seconds: int | None = Field(None, alias="slide")
    threshold: float

    @field_validator("window_seconds", "slide_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | int | None) -> int | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.aggregate == "count":
            if self.field not in (None, "event_id"):
                raise ValueError(f"rule {self.name}: count takes no field")
        elif self.aggregate == "count_distinct":
            if self.field not in DISTINCT_FIELDS or self.field == self.group_by:
                raise ValueError(
                    f"rule {self.name}: count_distinct needs a field among "
                    f"{DISTINCT_FIELDS} other than group_by"
                )
        elif self.field not in NUMERIC_FIELDS:
            raise ValueError(
                f"rule {self.name}: {self.aggregate} needs a field among {NUMERIC_FIELDS}"
            )
        if self.slide_seconds is not None and (
            self.slide_seconds > self.window_seconds or self.window_seconds % self.slide_seconds
        ):
            raise ValueError(f"rule {self.name}: slide must divide the window")
        return self

    @property
    def slide(self) -> int:
        return self.slide_seconds or self.window_seconds

    @property
    def entity_type(self) -> str:
        return ENTITIES[self.group_by]

    def measure(self) -> str:
        """The aggregate over rows `p` of one window, as SQL."""
        if self.aggregate == "count":
            return "count(*)"
        if self.aggregate == "count_distinct":
            return f"count(DISTINCT p.{self.field})"
        return f"{self.aggregate}(p.{self.field})"


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_lateness_seconds: int = Field(600, alias="allowed_lateness")
    max_clock_skew_seconds: int = Field(300, alias="max_clock_skew")
    rules: tuple[Rule, ...] = Field(alias="rule")

    @field_validator("allowed_lateness_seconds", "max_clock_skew_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | int) -> int:
        return parse_duration(value)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {sorted(names)}")
        return self


def parse_rules(text: str, origin: str = "rules") -> RuleSet:
    try:
        return RuleSet.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ValueError(f"{origin}: {exc}") from exc


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The rules file at `path`, or the defaults shipped with the package."""
    if path is None:
        text = resources.files("fraudit.stream").joinpath(DEFAULT_RULES).read_text("utf-8")
        return parse_rules(text, f"fraudit/stream/{DEFAULT_RULES}")
    return parse_rules(Path(path).read_text(encoding="utf-8"), str(path))


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]


def _width(param: str) -> str:
    return f"make_interval(secs => %({param})s)"


def alert_statement(rule: Rule, watermark: datetime | None) -> Statement:
    """Re-measure the rule's windows touched by this batch's inserted rows (temp table
    fraudit_batch_inserted) and upsert those over the threshold. RETURNING says whether
    each alert is new."""
    entity = rule.group_by
    sql = f"""
WITH touched AS (
    SELECT DISTINCT b.{entity} AS entity,
           date_bin({_width("slide")}, b.event_time, TIMESTAMPTZ '1970-01-01 00:00:00+00')
               - make_interval(secs => hop * %(slide)s) AS window_start
    FROM fraudit_batch_inserted b, generate_series(0, %(hops)s - 1) AS hop
    WHERE b.{entity} IS NOT NULL
), open_windows AS (
    SELECT entity, window_start FROM touched
    WHERE window_start + {_width("width")} > coalesce(%(watermark)s::timestamptz, '-infinity')
), measured AS (
    SELECT w.entity, w.window_start, ({rule.measure()})::double precision AS value
    FROM open_windows w JOIN fraud_predictions p
      ON p.{entity} = w.entity
     AND p.event_time >= w.window_start
     AND p.event_time < w.window_start + {_width("width")}
    GROUP BY w.entity, w.window_start
)
INSERT INTO fraud_alerts AS a (rule, entity_type, entity, window_start, window_end, value,
                               threshold)
SELECT %(rule)s, %(entity_type)s, entity, window_start, window_start + {_width("width")},
       value, %(threshold)s
FROM measured WHERE value > %(threshold)s
ON CONFLICT (rule, entity, window_start) DO UPDATE SET
    value = EXCLUDED.value, threshold = EXCLUDED.threshold,
    window_end = EXCLUDED.window_end, updated_at = now()
WHERE (a.value, a.threshold, a.window_end)
      IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.threshold, EXCLUDED.window_end)
RETURNING (xmax = 0) AS is_new
"""
    return Statement(
        sql,
        {
            "rule": rule.name,
            "entity_type": rule.entity_type,
            "threshold": rule.threshold,
            "width": rule.window_seconds,
            "slide": rule.slide,
            "hops": rule.window_seconds // rule.slide,
            "watermark": watermark,
        },
    )


WATERMARK_QUERY = "SELECT watermark FROM fraud_stream_watermarks WHERE job = %(job)s"

LATE_ROWS_QUERY = """
SELECT count(*) FROM fraudit_batch_inserted
WHERE event_time < coalesce(%(watermark)s::timestamptz, '-infinity')
"""


def advance_watermark(rules: RuleSet, job: str) -> Statement:
    """Move the job's watermark forward (never back) past this batch's inserted rows."""
    sql = """
INSERT INTO fraud_stream_watermarks AS w (job, watermark)
SELECT %(job)s, max(least(event_time, scored_at + make_interval(secs => %(skew)s)))
               - make_interval(secs => %(lateness)s)
FROM fraudit_batch_inserted HAVING count(*) > 0
ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()
WHERE EXCLUDED.watermark > w.watermark
"""
    return Statement(
        sql,
        {
            "job": job,
            "skew": rules.max_clock_skew_seconds,
            "lateness": rules.allowed_lateness_seconds,
        },
    )
