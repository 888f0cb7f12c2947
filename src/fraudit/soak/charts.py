"""The soak report's PNG charts: latency percentiles, throughput and memory over time, with
the injected faults marked, so a reader sees the run rather than reads it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fraudit.soak.report import MB, FaultRecord, MemorySample, Window

FAULT_LABELS = {"kill-stream": "Spark job killed", "restart-postgres": "PostgreSQL restarted"}


def _mark_faults(ax: Any, faults: Sequence[FaultRecord]) -> None:
    for fault in faults:
        ax.axvline(fault.at / 60, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            FAULT_LABELS.get(fault.kind, fault.kind),
            (fault.at / 60, 1),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="grey",
        )


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def write_charts(
    out_dir: Path,
    windows: Sequence[Window],
    samples: Sequence[MemorySample],
    faults: Sequence[FaultRecord],
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [w.start / 60 for w in windows]
    width = (windows[1].start - windows[0].start) if len(windows) > 1 else 1.0
    names = []

    fig, ax = plt.subplots(figsize=(10, 4))
    for attr, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(minutes, [getattr(w, attr) for w in windows], label=label)
    ax.set(
        title="POST /predict latency seen by the client (incl. retries)",
        xlabel="minutes into the run",
        ylabel="ms",
    )
    ax.set_yscale("log")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _mark_faults(ax, faults)
    names.append(_save(fig, out_dir / "latency.png"))

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot(minutes, [w.accepted / width for w in windows], label="accepted by the API")
    top.plot(minutes, [w.landed / width for w in windows], label="rows landed in PostgreSQL")
    top.set(title="Throughput", ylabel="events/s")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    _mark_faults(top, faults)
    bottom.plot(minutes, [w.lag_p95_s for w in windows], color="tab:red")
    bottom.set(
        title="API answer → row in PostgreSQL, p95 per window",
        xlabel="minutes into the run",
        ylabel="s",
    )
    _mark_faults(bottom, faults)
    names.append(_save(fig, out_dir / "throughput.png"))

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    by_process: dict[str, list[MemorySample]] = {}
    for s in samples:
        by_process.setdefault(s.process, []).append(s)
    for process, points in sorted(by_process.items()):
        minutes_at = [p.at / 60 for p in points]
        top.plot(minutes_at, [p.rss_bytes / MB for p in points], label=process)
        bottom.plot(minutes_at, [p.private_bytes / MB for p in points], label=process)
    top.set(title="Resident memory per process, with its children (RSS)", ylabel="MB")
    bottom.set(
        title="Private RSS (less file-backed and shared pages): what the limit judges",
        xlabel="minutes into the run",
        ylabel="MB",
    )
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    for ax in (top, bottom):
        _mark_faults(ax, faults)
    names.append(_save(fig, out_dir / "memory.png"))
    return names
