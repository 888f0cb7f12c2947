"""The operations task: what must run where both the online store and PostgreSQL can be
reached. On AWS neither has a public endpoint, so this module is a Lambda function in the
stack's VPC (devops/infra/ops.tf) that `fraudit deploy ops ...` invokes; later database
steps (migrations, label imports) are meant to run through it too.

A task runs within the invocation's time and says where it stopped: a rebuild larger than
one invocation pauses after a batch, with the card path still held, and the deploy
command invokes again from there until it is done (`fraudit.deploy.commands`).

Event: {"task": "check"}, {"task": "features-rebuild", "after": <event_id>, "batch": <n>} or
{"task": "features-reap"} (which the stack's schedule sends every few minutes:
fraudit.online.reaper).
Answer: a JSON object; a failure is raised (the invoke reports a FunctionError).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fraudit.settings import Settings, get_settings

log = logging.getLogger("fraudit.ops")

# Time kept back from the invocation's limit: a batch of the rebuild (2,000 transactions)
# and the answer must fit in it.
MARGIN_SECONDS = 60.0
TASKS = ("check", "features-rebuild", "features-reap")


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return run_task(event, get_settings(), lambda: False)
    limit = time.monotonic() + remaining() / 1_000 - MARGIN_SECONDS
    return run_task(event, get_settings(), lambda: time.monotonic() >= limit)


def run_task(
    event: dict[str, Any], settings: Settings, out_of_time: Callable[[], bool]
) -> dict[str, Any]:
    task = event.get("task")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: one of {', '.join(TASKS)}")
    from fraudit.db.connection import connect, database_url
    from fraudit.online.redis_store import store_from_settings

    url = database_url(settings)
    if not url:
        raise ValueError("no database: set DATABASE_URL or FRAUDIT_DATABASE_SECRET_ID")
    store = store_from_settings(settings.model_copy(update={"redis_timeout_seconds": 30.0}))
    if task == "check":
        with connect(url) as conn:
            conn.execute("SELECT 1")
        return {"task": task, "database": "ok", "store": "ok" if store.ping() else "no answer"}
    if task == "features-reap":
        from fraudit.online.reaper import reap_with_database
        from fraudit.online.redis_store import CLAIM_TTL_SECONDS

        with connect(url) as conn:
            reaped = reap_with_database(
                store, conn, claim_seconds=CLAIM_TTL_SECONDS, stop=out_of_time
            )
        log.info("reaped unfinished attempts: %s", reaped)
        return {"task": task, "judged_before_ms": reaped.began_before_ms, **reaped.outcomes}
    from fraudit.online.rebuild import rebuild, rows_to_rebuild

    after = str(event.get("after", ""))
    with connect(url) as conn:
        result = rebuild(
            store,
            rows_to_rebuild(conn, store.state_ttl_seconds, after),
            batch=int(event.get("batch", 2_000)),
            stop=out_of_time,
            after=after,
        )
    log.info("rebuild part after %r: %s", after, result)
    return {
        "task": task,
        "read": result.transactions,
        "counted": result.counted,
        "after": result.last_event_id,
        "finished": result.finished,
    }
