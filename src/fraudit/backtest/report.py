"""A backtest's figures, pure: the aggregated rows (engine.daily_figures, card precision at
k, rule figures) -> the report kept with the run and shown by the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fraudit.decisions import APPROVE, DECLINE, REVIEW

CONFIGURATIONS = ("live", "candidate")
_COUNTS = (
    APPROVE,
    REVIEW,
    DECLINE,
    "declined_fraud",
    "declined_genuine",
    "declined_unknown",
    "reviewed_fraud",
    "reviewed_genuine",
    "reviewed_unknown",
    "fraud_amount_declined",
    "fraud_amount_reviewed",
    "genuine_amount_declined",
    "genuine_customers_declined",
)


def ratio(part: float, whole: float) -> float | None:
    """part / whole; None (undefined) when whole is 0."""
    return part / whole if whole else None


def _figures(counts: Mapping[str, Any], frauds: float) -> dict[str, Any]:
    out = dict(counts)
    for kind in ("declined", "reviewed"):
        known = counts[f"{kind}_fraud"] + counts[f"{kind}_genuine"]
        name = DECLINE if kind == "declined" else REVIEW
        out[f"{name}_precision"] = ratio(counts[f"{kind}_fraud"], known)
        out[f"{name}_recall"] = ratio(counts[f"{kind}_fraud"], frauds)
    out["caught_recall"] = ratio(counts["declined_fraud"] + counts["reviewed_fraud"], frauds)
    return out


def _day_of(row: Mapping[str, Any], config: str, precision: Mapping[str, Any]) -> dict[str, Any]:
    counts = {name: row[f"{config}_{name}"] for name in _COUNTS}
    figures = _figures(counts, row["frauds"])
    figures["card_precision_at_k"] = precision.get(f"{config}_card_precision_at_k")
    return {"day": str(row["day"]), **figures}


def build_report(
    days: Sequence[Mapping[str, Any]],
    period: Mapping[str, Any],
    precision: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]],
    rule_details: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """`context`: period, as-of date, maturity window, k, candidate, as the run names them."""
    by_day = {str(p["day"]): p for p in precision}
    frauds = sum(d["frauds"] for d in days)
    report: dict[str, Any] = {
        **context,
        "decisions": sum(d["decisions"] for d in days),
        "frauds": frauds,
        "fraud_amount": sum(d["fraud_amount"] for d in days),
        "other_model_version": sum(d["other_model_version"] for d in days),
        "rule_faults": sum(d["rule_faults"] or 0 for d in days),
        "configurations": {},
    }
    for config in CONFIGURATIONS:
        daily = [_day_of(d, config, by_day.get(str(d["day"]), {})) for d in days]
        totals = {name: sum(d[name] for d in daily) for name in _COUNTS}
        totals["genuine_customers_declined"] = period[f"{config}_genuine_customers_declined"]
        summary = _figures(totals, frauds)
        at_k = [d["card_precision_at_k"] for d in daily if d["card_precision_at_k"] is not None]
        summary["card_precision_at_k"] = sum(at_k) / len(at_k) if at_k else None
        report["configurations"][config] = {"totals": summary, "days": daily}
    report["rules"] = [
        {
            "rule_id": r["rule_id"],
            **rule_details.get(r["rule_id"], {}),
            "hits": r["hits"],
            "fraud": r["fraud"],
            "genuine": r["genuine"],
            "unknown": r["unknown"],
            "precision": ratio(r["fraud"], r["fraud"] + r["genuine"]),
            "recall": ratio(r["fraud"], frauds),
            "fraud_amount": r["fraud_amount"],
            "marginal_fraud": r["marginal_fraud"],
        }
        for r in sorted(rules, key=lambda r: (-r["fraud"], r["rule_id"]))
    ]
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The report as text: the two configurations side by side, then the rules."""
    lines = [
        f"backtest {report.get('run_id', '')}: {report['decisions']:,} decisions from "
        f"{report['period_start']} to {report['period_end']}; labels reported by "
        f"{report['as_of']}, maturity window {report['maturity_days']} days, k = "
        f"{report['review_capacity']}",
        f"labelled frauds {report['frauds']:,} ({report['fraud_amount']:,.2f}); events scored "
        f"by another model version than the candidate policy's: {report['other_model_version']:,}"
        f"; rule faults: {report['rule_faults']:,}",
        f"{'':34}{'live':>16}{'candidate':>16}",
    ]
    unreadable = report.get("unreadable") or []
    if unreadable:
        count = sum(u["count"] for u in unreadable)
        lines.insert(
            2,
            f"left out of both: {count:,} stored event(s) the candidate cannot decide, e.g. "
            f"{unreadable[0]['problem']}",
        )
    live = report["configurations"]["live"]["totals"]
    cand = report["configurations"]["candidate"]["totals"]
    rows = SIDE_BY_SIDE
    for key, label, share in rows:
        if share:
            lines.append(f"{label:34}{_pct(live[key]):>16}{_pct(cand[key]):>16}")
        else:
            digits = 2 if "amount" in key else 0
            lines.append(f"{label:34}{live[key]:>16,.{digits}f}{cand[key]:>16,.{digits}f}")
    if report["rules"]:
        lines.append("rules (candidate): hits, frauds, genuine, unknown, precision, marginal")
        for r in report["rules"]:
            lines.append(
                f"  {r['rule_id']} [{r.get('state', '?')} {r.get('action', '?')}]: "
                f"{r['hits']:,}, {r['fraud']:,}, {r['genuine']:,}, {r['unknown']:,}, "
                f"{_pct(r['precision'])}, {r['marginal_fraud']:,}"
            )
    return lines


# The figures the dashboard shows side by side, in order: (key, label, is a share).
SIDE_BY_SIDE: tuple[tuple[str, str, bool], ...] = (
    (APPROVE, "approvals", False),
    (REVIEW, "reviews", False),
    (DECLINE, "declines", False),
    ("declined_fraud", "declines: fraud", False),
    ("declined_genuine", "declines: genuine", False),
    ("declined_unknown", "declines: outcome unknown", False),
    ("reviewed_fraud", "reviews: fraud", False),
    ("reviewed_genuine", "reviews: genuine", False),
    ("reviewed_unknown", "reviews: outcome unknown", False),
    ("decline_precision", "decline precision", True),
    ("decline_recall", "decline recall", True),
    ("review_precision", "review precision", True),
    ("review_recall", "review recall", True),
    ("caught_recall", "recall (declined or reviewed)", True),
    ("card_precision_at_k", "card precision at k (daily mean)", True),
    ("fraud_amount_declined", "fraud amount declined", False),
    ("fraud_amount_reviewed", "fraud amount reviewed", False),
    ("genuine_amount_declined", "genuine amount declined", False),
    ("genuine_customers_declined", "genuine customers declined", False),
)


def side_by_side(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: live and candidate."""
    live = report["configurations"]["live"]["totals"]
    cand = report["configurations"]["candidate"]["totals"]
    return [
        {"figure": label, "live": live[key], "candidate": cand[key]}
        for key, label, _ in SIDE_BY_SIDE
    ]


def per_day(report: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """One row per day: a figure for live and candidate."""
    live = report["configurations"]["live"]["days"]
    cand = report["configurations"]["candidate"]["days"]
    return [
        {"day": a["day"], "live": a[key], "candidate": b[key]}
        for a, b in zip(live, cand, strict=True)
    ]
