"""Connections: from DATABASE_URL (locally) or a Secrets Manager secret (Glue). Passwords
are never logged: describe() shows host, port and database only."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlparse


def url_from_secret(secret_string: str, *, host: str | None = None, port: int | None = None,
                    dbname: str | None = None) -> str:
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
    return (f"postgresql://{user}:{password}@{where}:{document.get('port') or port or 5432}/"
            f"{document.get('dbname') or document.get('database') or dbname or 'postgres'}")


def describe(url: str) -> str:
    """host:port/database, for logs: no user, no password."""
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port or 5432}{parsed.path}"


def connect(url: str, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(url, connect_timeout=kwargs.pop("connect_timeout", 10), **kwargs)
