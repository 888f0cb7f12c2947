"""What the API's request path knows of the online store without importing redis-py: the
failure it answers 503 for and the undo of one request. The Redis adapter is
`fraudit.online.redis_store`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fraudit.online.plan import BeginCall

# What a failed step did to the store, as the 503 tells the client: "no" when the step
# never ran (no connection, or the server refused it before its first write, e.g. out of
# memory under `noeviction`); "unknown" when it was sent and no answer came in time (a
# timeout is not a failure: the step may have run).
Recorded = Literal["no", "unknown"]


class StoreUnavailable(RuntimeError):
    """Redis could not be reached, refused the step or did not answer in time. `public` is
    for clients; `recorded` says whether the step may have changed the store."""

    public = "the online store (Redis) is unavailable"

    def __init__(self, message: str, recorded: Recorded = "unknown") -> None:
        super().__init__(message)
        self.recorded: Recorded = recorded


@dataclass(frozen=True)
class Abandon:
    call: BeginCall  # the BEGIN step to undo (what its attempt counted, if anything)
    pending: str | None  # the idempotency claim this attempt may have written
    # The BEGIN's answer never came (a timeout): fence the attempt so that a BEGIN still
    # on its way does nothing when it runs.
    fence: bool = False
