"""What the API's request path knows of the online store without importing redis-py: the
failure it answers 503 for and the undo of one request. The Redis adapter is
`fraudit.online.redis_store`."""

from __future__ import annotations

from dataclasses import dataclass

from fraudit.online.plan import BeginCall


class StoreUnavailable(RuntimeError):
    """Redis could not be reached or did not answer in time. `public` is for clients."""

    public = "the online store (Redis) is unavailable"


@dataclass(frozen=True)
class Abandon:
    call: BeginCall  # the BEGIN step to undo
    pending: str | None  # the idempotency record this request wrote, if any
    remove: bool  # the step counted the transaction: remove it
