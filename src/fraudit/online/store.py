"""The online store's interface: what the predict service, the rebuild and the soak ask of
it, the failure the API answers 503 for and the undo of one request, without importing
redis-py. The Redis adapter (`fraudit.online.redis_store.OnlineStore`) implements it; a
second backend (a cluster-safe layout) implements the same and passes the same tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from fraudit.deadline import Deadline
from fraudit.features.definitions import Entity
from fraudit.features.history import CardTransaction
from fraudit.online.plan import Attempt, BeginAnswer, BeginCall, StoreKeys

# What a failed step did to the store, as the 503 tells the client: "no" when the step
# never ran (no connection, or the server refused it before its first write, e.g. out of
# memory under `noeviction`); "unknown" when it was sent and no answer came in time (a
# timeout is not a failure: the step may have run).
Recorded = Literal["no", "unknown"]


class StoreUnavailable(RuntimeError):
    """Redis could not be reached, refused the step or did not answer in time. `public` is
    for clients; `recorded` says whether the step may have changed the store; `settled`,
    that the store has already undone what it could (the caller has nothing to abandon)."""

    public = "the online store (Redis) is unavailable"

    def __init__(
        self, message: str, recorded: Recorded = "unknown", *, settled: bool = False
    ) -> None:
        super().__init__(message)
        self.recorded: Recorded = recorded
        self.settled = settled


@dataclass(frozen=True)
class Abandon:
    call: BeginCall  # the steps to undo (what their attempt counted, if anything)
    pending: str | None  # the idempotency claim this attempt may have written
    # The CLAIM's answer never came (a timeout): fence the attempt so that a CLAIM still on
    # its way does nothing when it runs (its entity steps were never sent).
    fence: bool = False
    # The CLAIM answered that this attempt counts the transaction: remove its members.
    counted: bool = False
    # Its entity steps were sent and their answers never came: fence them too.
    fence_entities: bool = False


class Store(Protocol):
    """The online store as its callers use it."""

    keys: StoreKeys
    state_ttl_seconds: int

    def begin_call(
        self,
        transaction_id: str,
        *,
        pending: str | None = None,
        tx: CardTransaction | None = None,
        read: bool = True,
        arrivals: Mapping[Entity, int] | None = None,
        owner: str | None = None,
        attempt: str = "",
    ) -> BeginCall:
        """The steps of one transaction (claim, count, read: fraudit.online.plan)."""
        ...

    def begin_many(
        self, calls: Sequence[BeginCall], deadline: Deadline | None = None
    ) -> list[BeginAnswer | StoreUnavailable]:
        """Run the steps in one round trip: each answer, or that step's own refusal; raises
        StoreUnavailable when the store could not be asked or did not answer."""
        ...

    def finish_many(
        self, records: Sequence[tuple[str, str]], answered: Sequence[Attempt] = ()
    ) -> None:
        """Keep each transaction_id's answer for repeats; take the answered attempts off
        the register of unfinished ones."""
        ...

    def abandon_many(self, items: Sequence[Abandon]) -> None:
        """Undo what each attempt counted and claimed (fencing those never answered)."""
        ...

    def unfinished_attempts(self, began_before_ms: int, limit: int) -> list[Attempt]:
        """Attempts that counted a transaction before `began_before_ms` and neither
        finished nor abandoned it (the oldest first)."""
        ...

    def settle_attempts(self, undo: Sequence[Attempt], keep: Sequence[Attempt]) -> list[str]:
        """Take attempts off the register: `keep` as they are, `undo` by undoing what they
        counted unless the transaction was answered or a retry is under way. Each undo's
        outcome: 'undone', 'none', 'answered' or 'claimed' (left on the register)."""
        ...

    def wait_for_answer(self, transaction_id: str, deadline: Deadline) -> str | None:
        """A pending claim's record once it is done or gone, or at the deadline."""
        ...

    def hold_card_path(self, seconds: int) -> None:
        """Refuse live card transactions for `seconds` (a rebuild is running)."""
        ...

    def release_card_path(self) -> None: ...

    def entities(self) -> Iterator[tuple[Entity, str]]:
        """Every entity the store holds history for: (entity, key)."""
        ...

    def entity_transactions(self, entity: Entity, key: str) -> list[str]:
        """The transaction_ids one entity's history holds (one per member)."""
        ...

    def ping(self) -> bool: ...
