"""What a soak run measured, and whether it passed. Pure: the harness gathers the facts
(answers, memory samples, the rows in PostgreSQL); this module reconciles and judges them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fraudit.soak.plan import RESTARTED_PROCESS, SoakConfig, StoreCheck

MB = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """One request as the client saw it in the end (after its retries)."""

    at: float  # seconds after the load started, when the answer came
    status: int  # 0: never answered
    seconds: float  # latency, first attempt to final answer
    attempts: int
    event_id: str  # the transaction_id sent (the API's event_id)
    error: str = ""  # what a non-200 answer said


@dataclass(frozen=True)
class MemorySample:
    at: float
    process: str
    rss_bytes: int
    private_bytes: int  # RSS less file-backed and shared pages: what a leak grows


@dataclass(frozen=True)
class StoredRow:
    event_id: str
    landed_at: float  # processed_at, seconds after the load started
    lag: float  # processed_at - scored_at: API answer to row in PostgreSQL


@dataclass(frozen=True)
class FaultRecord:
    at: float
    kind: str
    seconds: float  # how long the harness took to inject it and see recovery
    detail: str = ""


@dataclass(frozen=True)
class Reconciliation:
    accepted_responses: int
    accepted_ids: int
    rows: int
    distinct_event_ids: int
    lost: int  # accepted, not in PostgreSQL
    duplicated: int  # extra rows or answers for one event_id
    stored_not_accepted: int  # in PostgreSQL, answered with an error in the end
    stored_never_sent: int  # in PostgreSQL, never sent by this run
    rejected_by_reason: dict[str, int]
    rejected_unexplained: int  # quarantined with no reason
    lost_sample: list[str] = field(default_factory=list)


def reconcile(
    answers: Sequence[Answer],
    stored: Iterable[StoredRow],
    rejected: Iterable[tuple[str | None, str]],
) -> Reconciliation:
    """Every 200 must be exactly one row; every other row and every quarantined record
    must have an explanation. `rejected`: (event_id, reason) per quarantined record."""
    accepted = [a.event_id for a in answers if a.status == 200]
    accepted_set = set(accepted)
    sent_set = {a.event_id for a in answers}
    stored_ids = [row.event_id for row in stored]
    stored_set = set(stored_ids)
    reasons: Counter[str] = Counter()
    unexplained = 0
    for _, reason in rejected:
        if reason and reason.strip():
            reasons[reason] += 1
        else:
            unexplained += 1
    lost = sorted(accepted_set - stored_set)
    extra = stored_set - accepted_set
    return Reconciliation(
        accepted_responses=len(accepted),
        accepted_ids=len(accepted_set),
        rows=len(stored_ids),
        distinct_event_ids=len(stored_set),
        lost=len(lost),
        duplicated=(len(stored_ids) - len(stored_set)) + (len(accepted) - len(accepted_set)),
        stored_not_accepted=len(extra & sent_set),
        stored_never_sent=len(extra - sent_set),
        rejected_by_reason=dict(reasons),
        rejected_unexplained=unexplained,
        lost_sample=lost[:10],
    )


@dataclass(frozen=True)
class Window:
    start: float
    answered: int
    accepted: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    landed: int  # rows that reached PostgreSQL in this window
    lag_p95_s: float


def _percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    if not values:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(np.asarray(values), qs)]


def windows(
    answers: Sequence[Answer], stored: Sequence[StoredRow], width: float, end: float
) -> list[Window]:
    """The run cut into `width`-second windows: what the client saw and what landed."""
    n = max(1, int(np.ceil(end / width)))
    latencies: list[list[float]] = [[] for _ in range(n)]
    answered, accepted, landed = [0] * n, [0] * n, [0] * n
    lags: list[list[float]] = [[] for _ in range(n)]
    for a in answers:
        i = min(n - 1, max(0, int(a.at // width)))
        answered[i] += 1
        if a.status == 200:
            accepted[i] += 1
            latencies[i].append(a.seconds * 1000)
    for row in stored:
        i = int(row.landed_at // width)
        if 0 <= i < n:
            landed[i] += 1
            lags[i].append(row.lag)
    out = []
    for i in range(n):
        p50, p95, p99 = _percentiles(latencies[i], (50, 95, 99))
        out.append(
            Window(
                i * width,
                answered[i],
                accepted[i],
                p50,
                p95,
                p99,
                landed[i],
                _percentiles(lags[i], (95,))[0],
            )
        )
    return out


def rss_slopes(
    samples: Sequence[MemorySample], since: float, private: bool = False
) -> dict[str, float]:
    """Least-squares slope of RSS (or private RSS) in MB/minute per process over the
    samples from `since` on (processes with fewer than three such samples are left out)."""
    by_process: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        if s.at >= since:
            value = s.private_bytes if private else s.rss_bytes
            by_process.setdefault(s.process, []).append((s.at / 60, value / MB))
    slopes = {}
    for process, points in sorted(by_process.items()):
        if len(points) >= 3:
            x, y = np.array(points).T
            slopes[process] = float(np.polyfit(x, y, 1)[0])
    return slopes


@dataclass
class SoakReport:
    config: dict[str, Any]
    duration: float  # seconds of load
    reconciliation: Reconciliation
    faults: list[FaultRecord]
    answered: int
    errors_by_status: dict[str, int]
    error_examples: dict[str, str]
    error_rate: float
    latency_ms: dict[str, float]  # p50/p95/p99/max over the whole run
    lag_s: dict[str, float]  # API answer -> row in PostgreSQL
    rss_slope_mb_per_min: dict[str, float]
    private_slope_mb_per_min: dict[str, float]
    rss_mb: dict[str, dict[str, float]]  # first/last/max per process
    failures: list[str]
    machine: dict[str, Any] = field(default_factory=dict)
    store_check: StoreCheck | None = None
    # Answers per second in each fifth of the run.
    rate_by_fifth: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _delivery_failures(recon: Reconciliation, *, answered: bool) -> list[str]:
    failures = []
    if not answered:
        failures.append("no request was answered")
    if recon.lost:
        failures.append(
            f"{recon.lost} accepted events are not in fraud_predictions "
            f"(e.g. {', '.join(recon.lost_sample[:3])})"
        )
    if recon.duplicated:
        failures.append(f"{recon.duplicated} duplicated events")
    if recon.stored_never_sent:
        failures.append(f"{recon.stored_never_sent} rows in fraud_predictions this run never sent")
    if recon.rejected_unexplained:
        failures.append(f"{recon.rejected_unexplained} quarantined records have no reason")
    return failures


def _memory_failures(
    config: SoakConfig, faults: Sequence[FaultRecord], private_slopes: dict[str, float]
) -> list[str]:
    # Judged on private memory: a backend's RSS also counts the pages of PostgreSQL's
    # shared buffer cache it has touched, which fill up to shared_buffers without leaking.
    strict = config.minutes >= config.memory_judged_from_minutes
    restarted = {RESTARTED_PROCESS[f.kind] for f in faults if f.kind in RESTARTED_PROCESS}
    return [
        f"{process}: private RSS grows {slope:.2f} MB/min over the "
        f"second half (limit {config.rss_slope_limit:.1f})"
        for process, slope in private_slopes.items()
        if (strict or process not in restarted) and slope > config.rss_slope_limit
    ]


def rate_by_part(answers: Sequence[Answer], duration: float, parts: int = 5) -> list[float]:
    """Answers per second in each of `parts` equal spans of the run."""
    if duration <= 0:
        return []
    span = duration / parts
    counts = [0] * parts
    for a in answers:
        counts[min(parts - 1, max(0, int(a.at // span)))] += 1
    return [c / span for c in counts]


def judge(
    config: SoakConfig,
    duration: float,
    answers: Sequence[Answer],
    stored: Sequence[StoredRow],
    rejected: Sequence[tuple[str | None, str]],
    samples: Sequence[MemorySample],
    faults: Sequence[FaultRecord],
    planned_faults: int,
    store_check: StoreCheck | None = None,
) -> SoakReport:
    recon = reconcile(answers, stored, rejected)
    errors = Counter(str(a.status) for a in answers if a.status != 200)
    examples: dict[str, str] = {}
    for a in answers:
        if a.status != 200 and str(a.status) not in examples:
            examples[str(a.status)] = a.error[:300]
    error_rate = sum(errors.values()) / len(answers) if answers else 1.0
    latencies = [a.seconds * 1000 for a in answers if a.status == 200]
    p50, p95, p99 = _percentiles(latencies, (50, 95, 99))
    lag50, lag95, lag99 = _percentiles([r.lag for r in stored], (50, 95, 99))
    slopes = rss_slopes(samples, since=duration / 2)
    private_slopes = rss_slopes(samples, since=duration / 2, private=True)
    rss: dict[str, dict[str, float]] = {}
    for s in samples:
        entry = rss.setdefault(s.process, {"first": s.rss_bytes / MB, "max": 0.0})
        entry["last"] = s.rss_bytes / MB
        entry["max"] = max(entry["max"], s.rss_bytes / MB)

    failures = [
        *_delivery_failures(recon, answered=bool(answers)),
        *_memory_failures(config, faults, private_slopes),
    ]
    if error_rate > config.max_error_rate:
        failures.append(f"API error rate {error_rate:.4%} above {config.max_error_rate:.4%}")
    rates = rate_by_part(answers, duration)
    if (
        config.minutes >= config.rate_judged_from_minutes
        and rates
        and rates[-1] < config.min_rate_held * rates[0]
    ):
        failures.append(
            f"the rate fell from {rates[0]:.1f} to {rates[-1]:.1f} answers/s "
            f"(first fifth to last; at least {config.min_rate_held:.0%} must hold)"
        )
    if len(faults) != planned_faults:
        failures.append(f"{len(faults)} of {planned_faults} faults were injected")
    if store_check is not None and not store_check.ok:
        failures.append(
            f"online store: {store_check.mismatched} keys differ from the rows "
            f"(e.g. {', '.join(store_check.examples)}), {store_check.counted_twice} "
            "transactions counted twice"
        )
    return SoakReport(
        config={k: str(v) for k, v in asdict(config).items()},
        duration=duration,
        reconciliation=recon,
        faults=list(faults),
        answered=len(answers),
        errors_by_status=dict(errors),
        error_examples=examples,
        error_rate=error_rate,
        latency_ms={
            "p50": p50,
            "p95": p95,
            "p99": p99,
            "max": max(latencies) if latencies else float("nan"),
        },
        lag_s={"p50": lag50, "p95": lag95, "p99": lag99},
        rss_slope_mb_per_min=slopes,
        private_slope_mb_per_min=private_slopes,
        rss_mb=rss,
        failures=failures,
        store_check=store_check,
        rate_by_fifth=rates,
    )


def _store_lines(check: StoreCheck | None) -> list[str]:
    if check is None:
        return []
    return [
        "## The online store equals a recomputation from the rows",
        "",
        f"After the run (and a final `fraudit features rebuild`): {check.keys:,} entity keys; "
        f"{check.mismatched} hold other transactions than the rows name"
        + (f" (e.g. {', '.join(check.examples)})" if check.examples else "")
        + f"; {check.counted_twice} transactions counted twice.",
        "",
    ]


def to_markdown(report: SoakReport, charts: Sequence[str]) -> str:
    r = report.reconciliation
    minutes = report.duration / 60
    lines = [
        f"# Soak: {minutes:.1f} minutes at {report.config['rate']} req/s — "
        f"{'PASSED' if report.passed else 'FAILED'}",
        "",
    ]
    lines += [f"- FAILED: {f}" for f in report.failures]
    lines += [
        "",
        "## Every accepted transaction is exactly one row",
        "",
        "| accepted responses | distinct accepted event_ids | rows in fraud_predictions | "
        "distinct event_ids | lost | duplicated |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {r.accepted_responses:,} | {r.accepted_ids:,} | {r.rows:,} | "
        f"{r.distinct_event_ids:,} | {r.lost} | {r.duplicated} |",
        "",
        f"Rows stored whose request was answered with an error in the end: "
        f"{r.stored_not_accepted} (published, then the answer failed). Rows never sent by "
        f"this run: {r.stored_never_sent}.",
        "",
        "Quarantined records (fraud_predictions_rejected), by reason: "
        + (", ".join(f"{reason}: {n}" for reason, n in r.rejected_by_reason.items()) or "none")
        + f"; without a reason: {r.rejected_unexplained}.",
        "",
        *_store_lines(report.store_check),
        "## API",
        "",
        "Answers per second, by fifth of the run: "
        + ", ".join(f"{rate:.1f}" for rate in report.rate_by_fifth)
        + ".",
        "",
        f"{report.answered:,} requests; not answered 200 in the end: "
        f"{sum(report.errors_by_status.values())} ({report.error_rate:.4%})"
        + (
            "; "
            + ", ".join(
                f"status {s}: {n} (e.g. {report.error_examples.get(s, '')!r})"
                for s, n in report.errors_by_status.items()
            )
            if report.errors_by_status
            else ""
        )
        + ".",
        "",
        "| latency | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|",
        "| client, incl. retries (ms) | "
        + " | ".join(f"{report.latency_ms[k]:.1f}" for k in ("p50", "p95", "p99", "max"))
        + " |",
        "| API answer → row in PostgreSQL (s) | "
        + " | ".join(f"{report.lag_s[k]:.2f}" for k in ("p50", "p95", "p99"))
        + " | |",
        "",
        "## Faults",
        "",
        "| at (s) | fault | recovered in (s) | detail |",
        "|---:|---|---:|---|",
    ]
    lines += [f"| {f.at:.0f} | {f.kind} | {f.seconds:.1f} | {f.detail} |" for f in report.faults]
    strict = float(report.config["minutes"]) >= float(report.config["memory_judged_from_minutes"])
    lines += [
        "",
        "## Memory (RSS of each process and its children)",
        "",
        "Slopes are least-squares fits over the second half of the run. The limit "
        "applies to private RSS (RSS less file-backed and shared pages); full RSS also "
        "counts the PostgreSQL shared buffer pages each backend has touched, which fill "
        "up to `shared_buffers` without leaking. "
        + (
            f"Limit: {float(report.config['max_rss_slope']):.1f} MB/min."
            if strict
            else f"This run is shorter than {report.config['memory_judged_from_minutes']}"
            " minutes: over so short a second half a garbage-collected heap is still "
            "settling, so it is held only to the gross-leak bound of "
            f"{float(report.config['short_run_max_rss_slope']):.0f} MB/min, and the "
            "restarted Spark job, whose second half is its warm-up, is not judged; the "
            f"{float(report.config['max_rss_slope']):.0f} MB/min limit is judged on "
            "longer runs."
        ),
        "",
        "| process | first MB | last MB | max MB | RSS slope (MB/min) | "
        "private RSS slope (MB/min) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for process, rss in report.rss_mb.items():
        slope = report.rss_slope_mb_per_min.get(process, float("nan"))
        private = report.private_slope_mb_per_min.get(process, float("nan"))
        lines.append(
            f"| {process} | {rss['first']:.0f} | {rss['last']:.0f} | "
            f"{rss['max']:.0f} | {slope:+.2f} | {private:+.2f} |"
        )
    if report.machine:
        lines += ["", f"Machine: {report.machine}"]
    lines += [""] + [f"![{name}]({name})" for name in charts] + [""]
    return "\n".join(lines)
