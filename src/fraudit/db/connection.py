"""Connections: from DATABASE_URL (locally) or a Secrets Manager secret (AWS). Passwords
are never logged: describe() shows host, port and database only."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlparse

from fraudit.backoff import Backoff, retry

if TYPE_CHECKING:
    from fraudit.settings import Settings

T = TypeVar("T")


def url_from_secret(
    secret_string: str,
    *,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
) -> str:
    """A libpq URL from an RDS-style secret ({"username", "password", "host", "port",
    "dbname"}) or a secret that already holds a URL. The secret RDS manages for a master
    user holds only the username and password: host, port and dbname then come from the
    arguments (values in the secret win)."""
    try:
        document = json.loads(secret_string)
    except json.JSONDecodeError:
        return secret_string
    if not isinstance(document, dict):
        raise ValueError("database secret must be a JSON object or a URL")
    user = quote(str(document["username"]), safe="")
    password = quote(str(document["password"]), safe="")
    where = document.get("host") or host
    if not where:
        raise ValueError("database secret has no host: give the database host as well")
    return (
        f"postgresql://{user}:{password}@{where}:{document.get('port') or port or 5432}/"
        f"{document.get('dbname') or document.get('database') or dbname or 'postgres'}"
    )


def describe(url: str) -> str:
    """host:port/database, for logs: no user, no password."""
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port or 5432}{parsed.path}"


def connect(url: str, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(url, connect_timeout=kwargs.pop("connect_timeout", 10), **kwargs)


def url_from_secret_id(
    secrets_client: Any,
    secret_id: str,
    *,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
) -> str:
    """Read the database secret (ARN or name) and build its URL; the value is never logged."""
    secret = secrets_client.get_secret_value(SecretId=secret_id)
    return url_from_secret(secret["SecretString"], host=host, port=port, dbname=dbname)


def database_url(settings: Settings, secrets_client: Any = None) -> str | None:
    """DATABASE_URL, else a URL built from the database secret (FRAUDIT_DATABASE_SECRET_ID)
    and the host, port and name settings; None when neither is configured."""
    if settings.database_url:
        return settings.database_url
    if not settings.database_secret_id:
        return None
    if secrets_client is None:
        from fraudit.aws_clients import settings_client

        secrets_client = settings_client("secretsmanager", settings)
    return url_from_secret_id(
        secrets_client,
        settings.database_secret_id,
        host=settings.database_host,
        port=settings.database_port,
        dbname=settings.database_name,
    )


# 0.2 s, then twice as long each time, up to 5 s.
UNAVAILABLE_BACKOFF = Backoff(0.2, 5.0, jitter=False)


def retry_while_unavailable(
    action: Callable[[], T],
    url: str,
    *,
    max_wait_seconds: float,
    logger: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
    on_unavailable: Callable[[], None] | None = None,
) -> T:
    """Run `action`; while PostgreSQL is unreachable (OperationalError) retry it, for
    `max_wait_seconds` at most. `on_unavailable` runs after every such failure (to drop a
    broken connection)."""
    import psycopg

    def failed(exc: BaseException, wait: float | None) -> None:
        if on_unavailable is not None:
            on_unavailable()
        if wait is not None:
            logger.warning(
                "PostgreSQL at %s unavailable (%s); retrying in %.1f s",
                describe(url),
                type(exc).__name__,
                wait,
            )

    return retry(
        action,
        retry_on=psycopg.OperationalError,
        backoff=UNAVAILABLE_BACKOFF,
        max_wait=max_wait_seconds,
        on_failure=failed,
        sleep=sleep,
    )


def open_database(settings: Settings) -> Any:
    """A command's autocommit connection to the settings' database with the schema applied,
    or SystemExit saying how to name one."""
    from fraudit.db.schema import apply_schema

    url = database_url(settings)
    if not url:
        raise SystemExit("error: no database: set DATABASE_URL (or FRAUDIT_DATABASE_SECRET_ID)")
    conn = connect(url, autocommit=True)
    apply_schema(conn)
    return conn
