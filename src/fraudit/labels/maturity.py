"""Label maturity, pure: from the days each fraud took to be reported (per source), the
arrival curve (the share of the frauds reported by the as-of date that were reported within
d days of their transaction) and the day by which a given share had arrived."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

ANY_SOURCE = "any"


@dataclass(frozen=True)
class ArrivalCurve:
    source: str
    frauds: int
    counts: tuple[int, ...]  # counts[d]: frauds first reported after d-1 < days <= d

    def share_within(self, days: int) -> float:
        """Share of this source's reported frauds reported within `days` days."""
        if self.frauds == 0:
            return float("nan")
        return sum(self.counts[: max(days, -1) + 1]) / self.frauds

    def day_reaching(self, share: float) -> int | None:
        """The first d with share_within(d) >= share."""
        total = 0
        for day, count in enumerate(self.counts):
            total += count
            if self.frauds and total / self.frauds >= share - 1e-12:
                return day
        return None


@dataclass(frozen=True)
class Maturity:
    as_of: datetime
    start: datetime
    end: datetime
    maturity_days: int
    curves: dict[str, ArrivalCurve]
    labels_without_events: int

    def lines(self, days: Iterable[int]) -> list[str]:
        """The curves as a text table: one row per d, one column per source."""
        sources = [ANY_SOURCE, *sorted(s for s in self.curves if s != ANY_SOURCE)]
        sources = [s for s in sources if s in self.curves]
        out = [
            f"frauds of decisions from {self.start.isoformat()} to {self.end.isoformat()}, "
            f"labels reported by {self.as_of.isoformat()}; maturity window "
            f"{self.maturity_days} days",
            "reported frauds: " + ", ".join(f"{s} {self.curves[s].frauds}" for s in sources),
            "days  " + "  ".join(f"{s:>20}" for s in sources),
        ]
        for day in days:
            cells = "  ".join(f"{self.curves[s].share_within(day):>20.1%}" for s in sources)
            out.append(f"{day:>4}  {cells}")
        for share in (0.5, 0.9, 0.95, 0.99):
            reach = [self.curves[s].day_reaching(share) for s in sources]
            out.append(
                f"{share:.0%} reported by day: "
                + ", ".join(
                    f"{s} {'-' if d is None else d}" for s, d in zip(sources, reach, strict=True)
                )
            )
        inside = self.curves.get(ANY_SOURCE)
        if inside is not None and inside.frauds:
            out.append(
                f"within the {self.maturity_days}-day maturity window: "
                f"{inside.share_within(self.maturity_days):.1%} of reported frauds"
            )
        if self.labels_without_events:
            out.append(
                f"{self.labels_without_events} label(s) name events fraudit has no decision "
                "for (kept, not counted)"
            )
        return out


def arrival_curves(rows: Iterable[tuple[str, int, int]]) -> dict[str, ArrivalCurve]:
    """(source, days, frauds) rows -> one curve per source."""
    by_source: dict[str, dict[int, int]] = {}
    for source, days, count in rows:
        by_source.setdefault(source, {})[int(days)] = by_source.get(source, {}).get(
            int(days), 0
        ) + int(count)
    curves = {}
    for source, histogram in by_source.items():
        longest = max(histogram)
        counts = tuple(histogram.get(d, 0) for d in range(longest + 1))
        curves[source] = ArrivalCurve(source, sum(counts), counts)
    return curves
