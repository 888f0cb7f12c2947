"""Applying the schema: every `migrations/NNN_*.sql` not yet recorded in
`schema_migrations`, in order, each in its own transaction. Safe to run concurrently (an
advisory lock serialises appliers) and as often as you like."""

from __future__ import annotations

from importlib import resources
from typing import Any

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""
_LOCK_KEY = 0x46524155  # "FRAU": any constant shared by every fraudit process


def migrations() -> list[tuple[str, str]]:
    """(version, sql) of every migration file shipped with the package, in order."""
    folder = resources.files("fraudit.db.migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def apply_schema(conn: Any) -> list[str]:
    """Apply pending migrations on a psycopg connection; returns the versions applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(MIGRATIONS_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migrations():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
