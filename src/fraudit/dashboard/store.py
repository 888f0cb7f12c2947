"""Runs the dashboard's queries on PostgreSQL and hands back DataFrames."""

from __future__ import annotations

from typing import Any

from fraudit.dashboard.queries import Query


class DashboardStore:
    def __init__(self, url: str, *, statement_timeout_ms: int = 5000) -> None:
        self._url = url
        self._timeout = statement_timeout_ms
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            from fraudit.db.connection import connect

            self._conn = connect(self._url, autocommit=True, connect_timeout=3)
            self._conn.execute(f"SET statement_timeout = {int(self._timeout)}")
        return self._conn

    def frame(self, query: Query) -> Any:
        import pandas as pd

        try:
            cursor = self._connection().execute(query.sql, query.params)
        except Exception:
            self.close()  # a broken connection is rebuilt on the next call
            raise
        columns = [c.name for c in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)

    def has_schema(self) -> bool:
        row = (
            self._connection()
            .execute("SELECT to_regclass('fraud_minute_rollups') IS NOT NULL")
            .fetchone()
        )
        return bool(row[0])

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
