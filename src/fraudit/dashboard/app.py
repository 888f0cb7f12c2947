"""The Streamlit dashboard (run with `fraudit dashboard`, or `streamlit run frontend/app.py`).
Every number is a SQL aggregate over the whole period (rollups), never a sample of rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import streamlit as st

from fraudit.dashboard import queries as q
from fraudit.dashboard.store import DashboardStore
from fraudit.decisions import DECISIONS, DECLINE

PERIODS = {
    "Last 15 minutes": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "All time": None,
}
ALL_TIME_START = datetime(2000, 1, 1, tzinfo=UTC)
log = logging.getLogger("fraudit.dashboard")


@st.cache_resource
def _store(url: str) -> DashboardStore:
    return DashboardStore(url)


def _database_url() -> str | None:
    from fraudit.settings import Settings

    settings = Settings()  # read on each run: cheap, and follows the environment
    if settings.database_url or not settings.database_secret_id:
        return settings.database_url
    return _secret_database_url(settings.database_secret_id)


@st.cache_resource
def _secret_database_url(secret_id: str) -> str | None:
    """The URL built from the database secret, fetched once per process (AWS)."""
    from fraudit.db.connection import database_url
    from fraudit.settings import Settings

    return database_url(Settings())


def _maturity_days() -> int:
    from fraudit.settings import Settings

    return Settings().label_maturity_days


def _filters(
    period: str, countries: Sequence[str], sources: Sequence[str], decisions: Sequence[str]
) -> q.Filters:
    now = datetime.now(UTC)
    span = PERIODS[period]
    return q.Filters(
        start=ALL_TIME_START if span is None else now - span,
        end=now + timedelta(minutes=1),
        countries=tuple(countries),
        sources=tuple(sources),
        decisions=tuple(decisions),
    )


def _shown(value: Any, template: str, missing: str = "–") -> str:
    """A number for a metric; SQL NULL (None, or NaN once in a DataFrame) shows as missing."""
    return missing if value is None or value != value else template.format(value)


def _kpis(store: DashboardStore, f: q.Filters) -> None:
    row = store.frame(q.kpis(f)).iloc[0]
    cols = st.columns(6)
    cols[0].metric("Transactions", f"{int(row.transactions):,}")
    cols[1].metric("Declined", f"{int(row.declined):,}")
    cols[2].metric("Reviewed", f"{int(row.reviewed):,}")
    cols[3].metric("Predicted frauds", f"{int(row.predicted_frauds):,}")
    cols[4].metric("Fraud rate", _shown(row.fraud_rate, "{:.2%}"))
    cols[5].metric("Mean fraud probability", _shown(row.mean_probability, "{:.4f}"))


def _charts(store: DashboardStore, f: q.Filters) -> None:
    series = store.frame(q.per_minute(f))
    st.subheader(f"Transactions and predicted frauds per {f.bucket_seconds // 60} min")
    if series.empty:
        st.caption("No transactions in this period.")
    else:
        st.line_chart(series.set_index("bucket")[["transactions", "predicted_frauds"]])
    left, right = st.columns(2)
    with left:
        st.subheader("Decision mix")
        mix = store.frame(q.decision_mix(f))
        if not mix.empty:
            st.bar_chart(mix.set_index("decision")["transactions"])
    with right:
        st.subheader("Fraud probability distribution")
        scores = store.frame(q.score_distribution(f))
        if not scores.empty:
            scores["range"] = scores["low"].map(lambda v: f"{float(v):.2f}")
            st.bar_chart(scores.set_index("range")["transactions"])
    st.subheader("Card transactions by merchant category")
    categories = store.frame(q.category_mix(f))
    if categories.empty:
        st.caption("No card transaction in this period.")
    else:
        st.bar_chart(
            categories.set_index("merchant_category")[["transactions", "predicted_frauds"]]
        )
    st.subheader("Where the activity is (half-degree cells)")
    if f.sources:
        st.caption("The map counts every source: the source filter does not apply to it.")
    cells = store.frame(q.activity_map(f))
    if not cells.empty:
        cells["size"] = 2000 + 40000 * (cells["transactions"] / cells["transactions"].max())
        st.map(cells, latitude="latitude", longitude="longitude", size="size", zoom=1)


def _table(store: DashboardStore, title: str, query: q.Query, empty: str) -> None:
    st.subheader(title)
    rows = store.frame(query)
    if rows.empty:
        st.caption(empty)
    else:
        st.dataframe(rows, hide_index=True, width="stretch")


def _tables(store: DashboardStore, f: q.Filters) -> None:
    _table(
        store,
        "Latest alerts from the windowed rules",
        q.latest_alerts(f),
        "No alert in this period.",
    )
    _table(store, "Latest events", q.latest_events(f), "No event in this period.")
    _table(
        store,
        "Why: the latest reviews and declines",
        q.latest_reasons(f),
        "No review or decline in this period.",
    )


def _rules(store: DashboardStore, f: q.Filters) -> None:
    st.subheader("Rules: hits and the decisions they changed")
    st.caption(
        "Live and shadow rules now, and every rule that fired in the period. A live rule's "
        "changed decisions: it decided otherwise than the model alone; a shadow rule's: the "
        "shadow decision differs from the live one (docs/RULES.md). Filters other than the "
        "period do not apply."
    )
    hits = store.frame(q.rule_hits(f))
    cols = st.columns(4)
    live, shadow = hits[hits.fired_as == "live"], hits[hits.fired_as == "shadow"]
    cols[0].metric("Live rules", f"{int((hits.state_now == 'live').sum()):,}")
    cols[1].metric("Shadow rules", f"{int((hits.state_now == 'shadow').sum()):,}")
    cols[2].metric("Live hits", f"{int(live.hits.sum()):,}")
    cols[3].metric("Shadow hits", f"{int(shadow.hits.sum()):,}")
    if hits.empty:
        st.caption("No rule is published, and none fired in this period (fraudit rules).")
    else:
        st.dataframe(hits, hide_index=True, width="stretch")


def _labels(store: DashboardStore, f: q.Filters, maturity_days: int) -> None:
    from fraudit.labels.maturity import ANY_SOURCE, arrival_curves

    st.subheader("Labels: how long frauds take to be reported")
    as_of = datetime.now(UTC)
    st.caption(
        f"Frauds of the period's decisions reported by {as_of:%Y-%m-%d %H:%M} UTC (the as-of "
        f"date); the maturity window is {maturity_days} days: an unlabelled approval or "
        "review counts as genuine only once older (docs/LABELS.md)."
    )
    counts = store.frame(q.label_counts(as_of)).iloc[0]
    rows = store.frame(q.label_delays(f, as_of))
    curves = arrival_curves(rows.itertuples(index=False, name=None))
    everything = curves.get(ANY_SOURCE)
    cols = st.columns(4)
    cols[0].metric("Labels", f"{int(counts.labels):,}")
    cols[1].metric("Reported frauds", f"{everything.frauds if everything else 0:,}")
    cols[2].metric("Labels naming no stored event", f"{int(counts.without_event):,}")
    within = everything.share_within(maturity_days) if everything else None
    cols[3].metric("Reported within the window", _shown(within, "{:.1%}"))
    if not curves:
        st.caption("No fraud of this period is reported yet (fraudit labels import, POST /labels).")
        return
    longest = max(len(c.counts) for c in curves.values())
    import pandas as pd

    shares = pd.DataFrame(
        {s: [c.share_within(d) for d in range(longest)] for s, c in sorted(curves.items())}
    )
    shares.index.name = "days after the transaction"
    st.line_chart(shares)


def _backtests(store: DashboardStore) -> None:
    import pandas as pd

    from fraudit.backtest.report import per_day, side_by_side

    st.subheader("Backtests: a candidate beside what was decided")
    runs = store.frame(q.backtest_runs())
    if runs.empty:
        st.caption("No backtest has run yet (fraudit backtest, docs/BACKTESTS.md).")
        return
    labels = {
        r.run_id: f"{r.run_id} · rules {r.ruleset} · policy {r.policy} · {r.decisions:,} decisions"
        for r in runs.itertuples()
    }
    run_id = st.selectbox("Run", list(labels), format_func=labels.__getitem__)
    report = store.frame(q.backtest_report(run_id)).iloc[0].report
    st.caption(
        f"Decisions from {report['period_start']} to {report['period_end']}; labels reported "
        f"by {report['as_of']}; maturity window {report['maturity_days']} days; k = "
        f"{report['review_capacity']} cards a day. Declines without a label are 'outcome "
        "unknown', never genuine."
    )
    live = report["configurations"]["live"]["totals"]
    cand = report["configurations"]["candidate"]["totals"]
    cols = st.columns(4)
    for col, (key, label) in zip(
        cols,
        (
            (DECLINE, "Candidate declines"),
            ("decline_precision", "Candidate decline precision"),
            ("decline_recall", "Candidate decline recall"),
            ("card_precision_at_k", "Candidate card precision at k"),
        ),
        strict=True,
    ):
        share = key != DECLINE
        template = "{:.1%}" if share else "{:,.0f}"
        delta = None
        if cand[key] is not None and live[key] is not None:
            delta = f"{cand[key] - live[key]:+.1%}" if share else f"{cand[key] - live[key]:+,}"
        col.metric(label, _shown(cand[key], template), delta, delta_color="off")
    st.dataframe(pd.DataFrame(side_by_side(report)), hide_index=True, width="stretch")
    st.caption("Declines per day")
    st.line_chart(pd.DataFrame(per_day(report, DECLINE)).set_index("day"))
    st.caption("Card precision at k per day")
    st.line_chart(pd.DataFrame(per_day(report, "card_precision_at_k")).set_index("day"))
    if report["rules"]:
        st.caption("The candidate's rules: hits by outcome, and frauds only they caught")
        st.dataframe(pd.DataFrame(report["rules"]), hide_index=True, width="stretch")


def _health(store: DashboardStore) -> None:
    st.subheader("Pipeline health")
    row = store.frame(q.pipeline_health()).iloc[0]
    cols = st.columns(4)
    now = datetime.now(UTC)

    def ago(when: Any) -> str:
        seconds = None if when is None or when != when else (now - when).total_seconds()
        return _shown(seconds, "{:.0f} s ago", missing="never")

    cols[0].metric("Last event loaded", ago(row.last_loaded_at))
    cols[1].metric("Scoring → table (latest)", _shown(row.load_lag_seconds, "{:.1f} s"))
    cols[2].metric("Last batch committed", ago(row.last_batch_at))
    cols[3].metric(
        "Rejected records",
        f"{int(row.rejected_total):,}",
        f"{int(row.rejected_last_hour):,} in the last hour",
        delta_color="off",
    )
    if int(row.rejected_total):
        with st.expander("Recent rejections and why"):
            st.dataframe(store.frame(q.recent_rejections()), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="fraudit", layout="wide")
    st.title("fraudit · live card-fraud scoring")
    url = _database_url()
    maturity_days = _maturity_days()
    if not url:
        st.error("No database configured: set DATABASE_URL (see .env.example).")
        return
    store = _store(url)
    from fraudit.db.connection import describe

    try:
        ready = store.has_schema()
        options = store.frame(q.filter_options()) if ready else None
    except psycopg.Error as exc:  # down, refused, timed out: say so, keep the page up
        log.warning("database check failed: %s", type(exc).__name__)
        st.error(
            f"Database unreachable at {describe(url)}: {type(exc).__name__}. "
            "The page retries on refresh."
        )
        return
    if not ready or options is None:
        st.info("No data yet: the tables appear when the stream job first runs (`fraudit stream`).")
        return

    with st.sidebar:
        period = st.selectbox("Period", list(PERIODS), index=1)
        countries = st.multiselect(
            "Country", sorted(options.loc[options.kind == "country", "value"])
        )
        sources = st.multiselect("Source", sorted(options.loc[options.kind == "source", "value"]))
        decisions = st.multiselect("Decision", list(DECISIONS))
        every = st.select_slider(
            "Refresh every", options=[2, 5, 10, 30, 60], value=5, format_func=lambda s: f"{s} s"
        )

    @st.fragment(run_every=timedelta(seconds=every))
    def live() -> None:
        try:
            f = _filters(period, countries, sources, decisions)
            overview, rules, labels, backtests = st.tabs(
                ["Overview", "Rules", "Labels", "Backtests"]
            )
            with overview:
                _kpis(store, f)
                _charts(store, f)
                _tables(store, f)
                _health(store)
            with rules:
                _rules(store, f)
            with labels:
                _labels(store, f, maturity_days)
            with backtests:
                _backtests(store)
            st.caption(f"Updated {datetime.now(UTC):%H:%M:%S} UTC · {describe(url)}")
        except psycopg.Error as exc:
            log.warning("a panel's query failed: %s", type(exc).__name__)
            st.error(f"Database unreachable at {describe(url)}: {type(exc).__name__}. Retrying.")

    live()
