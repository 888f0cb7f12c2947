"""Benchmark: every dashboard panel's query on 5 million rows.

A fresh database on the local PostgreSQL gets N rows in fraud_predictions spread over 30
days (100,000 cards, 14 countries, 4 sources, 3 decisions, 300 cities), then the rollups
the stream job maintains (by the minute and by the hour), built in one GROUP BY each (the
job keeps them equal to that).
Each panel's query (fraudit.dashboard.queries) runs for the last hour, the last 24 hours
and all 30 days, with and without a country filter; median and max of repeated runs.

    python bench/bench_dashboard.py [--quick] [--rows 5000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, write_results  # noqa: E402
from fraudit.dashboard import queries as q  # noqa: E402
from fraudit.dashboard.store import DashboardStore  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 500.0

FILL = """
INSERT INTO fraud_predictions (event_id, schema_version, event_time, scored_at, event_minute,
    user_id, source, amount, fraud_prediction, fraud_proba, anomaly_score, decision,
    model_version, policy_version, ip_address, device_id, device_type, country, city,
    latitude, longitude, payload, payload_hash, source_position, processed_at)
SELECT 'ev-' || i, 1, t, t + interval '4 ms', date_trunc('minute', t),
       'u_' || (i * 7919 %% 100000),
       (ARRAY['checkout','web','mobile_app','pos'])[(1 + i %% 4)::int],
       round((1 + (i * 104729 %% 30000) / 100.0)::numeric, 2), (i %% 577 = 0)::int,
       (i %% 1000) / 1000.0, 0.2 + (i %% 97) / 40.0,
       (ARRAY['approve','approve','approve','approve','approve','approve','approve',
              'approve','review','decline'])[(1 + i %% 10)::int],
       'm-1', 'p-1', '10.' || (i %% 250) || '.' || (i %% 199) || '.1', 'd_' || (i %% 90000),
       'mobile', (ARRAY['US','FR','GB','DE','ES','IT','NL','BR','IN','JP','AU','CA','RU','NG'])
                 [(1 + c.k %% 14)::int],
       'City', c.lat + (i %% 11 - 5) / 100.0, c.lon + (i %% 13 - 6) / 100.0,
       '{}'::jsonb, 'h', 'bench:' || i, t + interval '1 s'
FROM (SELECT i, %(end)s::timestamptz - (%(span)s::float8 * (%(n)s - i) / %(n)s)
                * interval '1 second' AS t
      FROM generate_series(1::bigint, %(n)s::bigint) AS i) g
-- 300 cities: transactions cluster where people live, as on a real map
JOIN (SELECT k, -50 + (k * 47 %% 110) AS lat, -160 + (k * 89 %% 330) AS lon
      FROM generate_series(0, 299) AS k) c ON c.k = g.i %% 300
"""

ROLLUPS = """
INSERT INTO fraud_minute_rollups
SELECT event_minute, source, coalesce(country, ''), decision, count(*), sum(fraud_prediction),
       sum(amount), sum(fraud_proba::numeric) FROM fraud_predictions GROUP BY 1, 2, 3, 4;
INSERT INTO fraud_score_rollups
SELECT event_minute, source, coalesce(country, ''), decision,
       least(width_bucket(fraud_proba, 0, 1, 20), 20), count(*)
FROM fraud_predictions GROUP BY 1, 2, 3, 4, 5;
INSERT INTO fraud_geo_rollups
SELECT event_minute, coalesce(country, ''), decision, floor(latitude * 2) / 2,
       floor(longitude * 2) / 2, count(*), sum(fraud_prediction)
FROM fraud_predictions WHERE latitude IS NOT NULL GROUP BY 1, 2, 3, 4, 5;
INSERT INTO fraud_hour_rollups
SELECT date_trunc('hour', minute), source, country, decision, sum(transactions),
       sum(predicted_frauds), sum(amount_sum), sum(fraud_proba_sum)
FROM fraud_minute_rollups GROUP BY 1, 2, 3, 4;
INSERT INTO fraud_score_hour_rollups
SELECT date_trunc('hour', minute), source, country, decision, bucket, sum(transactions)
FROM fraud_score_rollups GROUP BY 1, 2, 3, 4, 5;
INSERT INTO fraud_geo_hour_rollups
SELECT date_trunc('hour', minute), country, decision, lat_cell, lon_cell,
       sum(transactions), sum(predicted_frauds)
FROM fraud_geo_rollups GROUP BY 1, 2, 3, 4, 5;
INSERT INTO fraud_alerts (rule, entity_type, entity, window_start, window_end, value,
                          threshold)
SELECT 'user_amount_5m', 'user', 'u_' || i, %(end)s::timestamptz - i * interval '1 minute',
       %(end)s::timestamptz - i * interval '1 minute' + interval '5 minutes', 2500, 2000
FROM generate_series(1, 20000) AS i;
INSERT INTO fraud_stream_watermarks (job, watermark) VALUES ('elt', %(end)s);
ANALYZE;
"""


def panels(f: q.Filters) -> dict[str, q.Query]:
    return {
        "kpis": q.kpis(f),
        "per_minute": q.per_minute(f),
        "decision_mix": q.decision_mix(f),
        "score_distribution": q.score_distribution(f),
        "activity_map": q.activity_map(f),
        "latest_alerts": q.latest_alerts(f),
        "latest_events": q.latest_events(f),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 5_000_000)
    repeats = 5 if args.quick else 9
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    import psycopg

    from fraudit.db.schema import apply_schema

    with temporary_database(ADMIN_URL, "fraudit_bench_dash") as url:
        with psycopg.connect(url) as conn:
            apply_schema(conn)
            started = time.perf_counter()
            conn.execute(FILL, {"n": rows, "end": end, "span": 30 * 86400})
            conn.commit()
            fill_s = time.perf_counter() - started
            conn.execute(ROLLUPS.replace("%(end)s", "'" + end.isoformat() + "'"))
            conn.commit()
            rollup_rows = conn.execute("SELECT count(*) FROM fraud_minute_rollups").fetchone()[0]
        print(
            f"{rows:,} rows loaded in {fill_s:.0f} s; {rollup_rows:,} minute-rollup rows",
            flush=True,
        )
        store = DashboardStore(url)
        periods = {
            "last hour": timedelta(hours=1),
            "last 24 h": timedelta(days=1),
            "all 30 days": timedelta(days=31),
        }
        results: dict[str, dict[str, float]] = {}
        for label, span in periods.items():
            for country in ((), ("FR",)):
                f = q.Filters(start=end - span, end=end + timedelta(minutes=1), countries=country)
                for name, query in [*panels(f).items(), ("pipeline_health", q.pipeline_health())]:
                    store.frame(query)  # warm the cache, as a refreshing dashboard does
                    times = []
                    for _ in range(repeats):
                        t = time.perf_counter()
                        store.frame(query)
                        times.append((time.perf_counter() - t) * 1000)
                    key = f"{name} | {label}{' | country=FR' if country else ''}"
                    results[key] = {
                        "median_ms": statistics.median(times),
                        "min_ms": min(times),
                        "max_ms": max(times),
                    }
        store.close()
    worst = max(results.items(), key=lambda kv: kv[1]["median_ms"])
    out = {
        "machine": machine(),
        "rows": rows,
        "repeats": repeats,
        "target_ms": TARGET_MS,
        "fill_seconds": fill_s,
        "minute_rollup_rows": rollup_rows,
        "queries": results,
    }
    path = write_results("dashboard", out, args.quick)
    for key, value in results.items():
        print(f"{key:55s} median {value['median_ms']:7.1f} ms  max {value['max_ms']:7.1f} ms")
    print(
        f"\nslowest: {worst[0]} at {worst[1]['median_ms']:.1f} ms (target < {TARGET_MS:.0f});"
        f" results: {path}"
    )


if __name__ == "__main__":
    main()
