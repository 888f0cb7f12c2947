"""The combined benchmark report: every figure of every bench as one table row (median and
spread over runs), each target from the issues next to its measured figure, and the
Markdown section `make bench` regenerates in docs/BENCHMARKS.md. Pure: dicts in, text out."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BEGIN = "<!-- make bench: generated section, begin -->"
END = "<!-- make bench: generated section, end -->"


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    median: float
    low: float
    high: float
    runs: int
    unit: str = ""


def _summarised(
    bench: str, prefix: str, summary: dict[str, dict[str, float]], runs: int
) -> list[Figure]:
    """A bench's summary (median/min/max per figure) as rows named `prefix` + figure."""
    return [
        Figure(bench, f"{prefix}{key}", s["median"], s["min"], s["max"], runs, _unit(key))
        for key, s in summary.items()
    ]


def _single(bench: str, name: str, value: float, unit: str) -> Figure:
    return Figure(bench, name, value, value, value, 1, unit)


def _unit(key: str) -> str:
    for suffix, unit in (
        ("_ms", "ms"),
        ("_us", "µs"),
        ("_rps", "req/s"),
        ("_s", "s"),
        ("_mb", "MB"),
    ):
        if key.endswith(suffix) or f"{suffix}_" in key:
            return unit
    return "ratio" if "_over_" in key else ""


def _cluster_figures(api: dict[str, Any]) -> list[Figure]:
    """The API on a Redis Cluster of 3 primaries (issue 28), beside the one-server run."""
    cluster = api.get("cluster")
    if not cluster:
        return []
    out = []
    for clients in (1, 8):
        for path in ("ulb", "cards"):
            out += _summarised(
                "API",
                f"cluster {path} {clients} client(s) ",
                cluster[f"{path}_clients_{clients}"]["summary"],
                api["runs"],
            )
    out += [
        _single("API", f"cluster card minus ULB {key}", value, _unit(key) or "ratio")
        for key, value in cluster["card_minus_ulb"].items()
    ]
    return out + _store_figures(cluster, "cluster ")


def _store_figures(measured: dict[str, Any], prefix: str) -> list[Figure]:
    """The hot card, device and IP (issue 28) beside unrelated cards: cold, then hot runs
    alternating with runs beside them (that client back on ordinary cards)."""
    hot = measured.get("hot_entities")
    if not hot:
        return []
    out = []
    for phase in ("cold", "hot", "beside"):
        if phase not in hot:  # runs before 2026-12-07 had no runs beside the hot ones
            continue
        summary = hot[phase]["summary"]
        out += [
            Figure(
                "API",
                f"{prefix}{phase} store, 1 + 7 clients {key}",
                summary[key]["median"],
                summary[key]["min"],
                summary[key]["max"],
                len(hot[phase]["runs"]),
                "ms",
            )
            for key in ("hot_p99_ms", "unrelated_p99_ms")
        ]
    out.append(
        _single(
            "API",
            f"{prefix}hot entities unrelated_p99_over_cold",
            hot["unrelated_p99_hot_over_cold"],
            "ratio",
        )
    )
    if "unrelated_p99_hot_over_beside" in hot:
        out.append(
            _single(
                "API",
                f"{prefix}hot entities unrelated_p99_over_beside",
                hot["unrelated_p99_hot_over_beside"],
                "ratio",
            )
        )
    return out


def _rules_figures(rules: dict[str, Any] | None) -> list[Figure]:
    """Rules and reasons (issue 31): the engine per request, list membership, a refresh's
    compile, TreeSHAP per row; and approvals over HTTP with the ruleset beside without."""
    if not rules:
        return []
    inside = rules["in_process"]
    out = [
        _single("rules", f"{label} {q}_us", inside[key][q], "µs")
        for key, label in (
            ("per_request_us", "50 live + 50 shadow rules, per request"),
            ("in_list_rule_us", "an in_list rule (100,000 entries)"),
            ("equality_rule_us", "an equality rule"),
            ("explain_row_us", "reasons (TreeSHAP + detector terms), per row"),
            ("score_row_us", "scores, per row"),
        )
        for q in ("p50", "p99")
    ]
    out.append(
        _single(
            "rules",
            "parse + compile a 100-rule document with 3 x 100,000 list entries_ms",
            inside["parse_and_compile_ms"]["median"],
            "ms",
        )
    )
    delta = rules["http"]["approve_p50_with_minus_without_ms"]
    out.append(
        Figure(
            "rules",
            "card approvals p50, with the ruleset minus without_ms",
            delta["median"],
            delta["min"],
            delta["max"],
            len(rules["http"]["runs"]["with"]),
            "ms",
        )
    )
    return out


def _backtest_figures(backtest: dict[str, Any] | None) -> list[Figure]:
    """Backtests (issue 32): wall time per run size, extract included."""
    if not backtest:
        return []
    return [
        _single(
            "backtest",
            f"{backtest['rules']} rules over {run['decisions']:,} stored decisions_s",
            run["seconds"],
            "s",
        )
        for run in backtest["runs"]
    ]


def figures(results: dict[str, dict[str, Any]]) -> list[Figure]:
    """Every figure in the benches' result files, in a fixed order."""
    out: list[Figure] = []
    model = results.get("model_server")
    if model:
        for endpoint, data in model["endpoints"].items():
            out += _summarised("model server", f"{endpoint} ", data["summary"], model["runs"])
        out += [
            _single("model server", f"in process {key}", value, "ms")
            for key, value in model["in_process_single_row_ms"].items()
        ]
    api = results.get("api")
    if api:
        for clients in (1, 8):
            # The ULB path (results before issue 20 name it clients_N).
            ulb = api.get(f"ulb_clients_{clients}") or api[f"clients_{clients}"]
            out += _summarised("API", f"{clients} client(s) ", ulb["summary"], api["runs"])
            cards = api.get(f"cards_clients_{clients}")
            if cards:
                out += _summarised(
                    "API", f"cards {clients} client(s) ", cards["summary"], api["runs"]
                )
        out += [
            _single("API", f"card minus ULB {key}", value, _unit(key) or "ratio")
            for key, value in api.get("card_minus_ulb", {}).items()
        ]
        out += [
            _single("API", f"scoring core {key}", value, "ms")
            for key, value in api["scoring_core"].items()
        ]
        out += _store_figures(api, "")
        out += _cluster_figures(api)
    stream = results.get("stream")
    if stream:
        out += _summarised("stream", "", stream["summary"], stream["runs"])
    dashboard = results.get("dashboard")
    if dashboard:
        queries = dashboard["queries"]
        slowest = max(queries, key=lambda k: queries[k]["median_ms"])
        q = queries[slowest]
        out.append(
            Figure(
                "dashboard",
                f"slowest panel ({slowest.replace('|', '/')}) on {dashboard['rows']:,} rows",
                q["median_ms"],
                q.get("min_ms", q["median_ms"]),
                q["max_ms"],
                dashboard["repeats"],
                "ms",
            )
        )
    out += _rules_figures(results.get("rules"))
    out += _backtest_figures(results.get("backtest"))
    history = results.get("backfill")
    if history:
        for r in history["results"]:
            size = f"{r['rows']:,} transactions"
            out += [
                _single("card history", f"generate-cards, {size}", r["generate_seconds"], "s"),
                _single("card history", f"features backfill, {size}", r["backfill_seconds"], "s"),
                _single("card history", f"backfill peak RSS, {size}", r["peak_rss_mb"], "MB"),
            ]
    return out


@dataclass(frozen=True)
class Target:
    issue: int
    text: str
    bench: str
    figure: Callable[[dict[str, Figure]], Figure | None]
    limit: float
    better: Callable[[float, float], bool]  # operator.lt: below the limit is met

    def judge(self, by_name: dict[str, Figure]) -> tuple[Figure | None, bool | None]:
        figure = self.figure(by_name)
        return figure, (None if figure is None else self.better(figure.median, self.limit))


def _named(name: str) -> Callable[[dict[str, Figure]], Figure | None]:
    return lambda by_name: by_name.get(name)


def _worst(prefix: str, suffix: str) -> Callable[[dict[str, Figure]], Figure | None]:
    """The highest median among figures whose name starts and ends so (worst endpoint)."""

    def pick(by_name: dict[str, Figure]) -> Figure | None:
        matches = [f for n, f in by_name.items() if n.startswith(prefix) and n.endswith(suffix)]
        return max(matches, key=lambda f: f.median) if matches else None

    return pick


def _dashboard(by_name: dict[str, Figure]) -> Figure | None:
    return next((f for n, f in by_name.items() if n.startswith("slowest panel")), None)


TARGETS = [
    Target(
        2,
        "model server, single row p50 < 3 ms",
        "model server",
        _worst("fraud-detection", "single_p50_ms"),
        3.0,
        operator.lt,
    ),
    Target(
        2,
        "model server, single row p99 < 10 ms",
        "model server",
        _worst("fraud-detection", "single_p99_ms"),
        10.0,
        operator.lt,
    ),
    Target(
        2,
        "model server, 1,000 rows < 30 ms",
        "model server",
        _worst("fraud-detection", "batch1000_p50_ms"),
        30.0,
        operator.lt,
    ),
    Target(
        2,
        "anomaly detector in process < 0.5 ms",
        "model server",
        _named("in process anomaly_detector_p50"),
        0.5,
        operator.lt,
    ),
    Target(3, "API, 1 client p50 < 6 ms", "API", _named("1 client(s) p50_ms"), 6.0, operator.lt),
    Target(
        3,
        "API, 8 clients ≥ 250 req/s",
        "API",
        _named("8 client(s) throughput_rps"),
        250.0,
        operator.ge,
    ),
    Target(3, "API, 8 clients p99 < 50 ms", "API", _named("8 client(s) p99_ms"), 50.0, operator.lt),
    Target(3, "scoring core p99 < 2 ms", "API", _named("scoring core p99_ms"), 2.0, operator.lt),
    Target(
        20,
        "card p50 − ULB p50, 1 client ≤ 1 ms",
        "API",
        _named("card minus ULB p50_ms_1_client"),
        1.0,
        operator.le,
    ),
    Target(
        20,
        "card p99 − ULB p99, 1 client ≤ 3 ms",
        "API",
        _named("card minus ULB p99_ms_1_client"),
        3.0,
        operator.le,
    ),
    Target(
        20,
        "card throughput ≥ 0.80 of ULB's, 8 clients",
        "API",
        _named("card minus ULB throughput_ratio_8_clients"),
        0.8,
        operator.ge,
    ),
    Target(
        28,
        "hot card, device and IP (1M each): unrelated p99 ≤ 1.5x cold's",
        "API",
        _named("hot entities unrelated_p99_over_cold"),
        1.5,
        operator.le,
    ),
    Target(
        28,
        "cluster: card p50 − ULB p50, 1 client ≤ 2 ms",
        "API",
        _named("cluster card minus ULB p50_ms_1_client"),
        2.0,
        operator.le,
    ),
    Target(
        28,
        "cluster: hot entities, unrelated p99 ≤ 1.5x cold's",
        "API",
        _named("cluster hot entities unrelated_p99_over_cold"),
        1.5,
        operator.le,
    ),
    Target(
        31,
        "50 live + 50 shadow rules, per request p99 ≤ 0.2 ms (200 µs)",
        "rules",
        _named("50 live + 50 shadow rules, per request p99_us"),
        200.0,
        operator.le,
    ),
    Target(
        31,
        "card approvals p50 with rules ≤ +0.3 ms over without",
        "rules",
        _named("card approvals p50, with the ruleset minus without_ms"),
        0.3,
        operator.le,
    ),
    Target(
        32,
        "backtest of 50 rules over 1,000,000 stored decisions ≤ 10 min (600 s), 2 cores",
        "backtest",
        _named("50 rules over 1,000,000 stored decisions_s"),
        600.0,
        operator.le,
    ),
    Target(
        4,
        "stream sink ≥ 0.50 of raw COPY (same run)",
        "stream",
        _named("sink_over_copy"),
        0.5,
        operator.ge,
    ),
    Target(
        4,
        "stream end to end ≥ 0.60 of the reader's noop ceiling (same run)",
        "stream",
        _named("e2e_over_noop"),
        0.6,
        operator.ge,
    ),
    Target(
        4,
        "put → row visible p95 < 2 s (1 s trigger)",
        "stream",
        _named("latency_1s_p95_s"),
        2.0,
        operator.lt,
    ),
    Target(
        5,
        "dashboard panels < 500 ms (on 5M rows; quick mode uses fewer)",
        "dashboard",
        _dashboard,
        500.0,
        operator.lt,
    ),
]


def judge_targets(figs: list[Figure]) -> list[dict[str, Any]]:
    by_name = {f.name: f for f in figs}
    rows = []
    for target in TARGETS:
        figure, met = target.judge(by_name)
        rows.append(
            {
                "issue": target.issue,
                "target": target.text,
                "median": None if figure is None else figure.median,
                "low": None if figure is None else figure.low,
                "high": None if figure is None else figure.high,
                "met": met,
            }
        )
    return rows


def _num(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(median: float, low: float, high: float) -> str:
    if low == high:
        return _num(median)
    return f"{_num(median)} ({_num(low)}–{_num(high)})"


def markdown(combined: dict[str, Any]) -> str:
    """The generated section: run, machine, targets, then every figure."""
    m = combined["machine"]
    versions = ", ".join(
        f"{k} {v}" for k, v in m.items() if k not in ("cpus", "cpu", "memory_gib", "platform")
    )
    lines = [
        BEGIN,
        f"### Latest `make bench{' QUICK=1' if combined['quick'] else ''}` run: {combined['date']}",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}; "
        f"{versions}. Wall time per bench: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in combined["seconds"].items())
        + ". Figures are medians with min–max over the runs; ratios were measured side by "
        "side in the same run. Raw results: `bench/results/" + combined["file"] + "`.",
        "",
    ]
    if combined.get("failed"):
        lines += [f"**Failed benches:** {', '.join(combined['failed'])}", ""]
    if combined.get("note"):
        lines += [combined["note"], ""]
    lines += ["| issue | target | measured | met |", "|---|---|---|---|"]
    for row in combined["targets"]:
        measured = (
            "not measured"
            if row["median"] is None
            else _cell(row["median"], row["low"], row["high"])
        )
        met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
        lines.append(f"| {row['issue']} | {row['target']} | {measured} | {met} |")
    lines += ["", "| bench | figure | median (min–max) | unit | runs |", "|---|---|---|---|---|"]
    for f in combined["figures"]:
        lines.append(
            f"| {f['bench']} | {f['name']} | {_cell(f['median'], f['low'], f['high'])}"
            f" | {f['unit']} | {f['runs']} |"
        )
    lines.append(END)
    return "\n".join(lines)


def replace_section(document: str, section: str) -> str:
    """The document with its generated section replaced (appended if it has none)."""
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + section + tail
    return document.rstrip("\n") + "\n\n## Latest harness run\n" + section + "\n"
