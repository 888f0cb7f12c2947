"""The online store on Redis (redis-py): the thin adapter that runs the steps of
`fraudit.online.scripts` with the arguments `fraudit.online.plan` builds.

Each request makes one round trip to begin (claim its transaction_id, count the card
transaction and read its entities' history, atomically) and one to finish (keep the
answer for repeats) or to abandon (remove exactly what it added). A batch pipelines its
items into those same round trips.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.credentials import CredentialProvider
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.retry import Retry

from fraudit.deadline import Deadline, no_deadline
from fraudit.features.definitions import HISTORY_CAPS, MAX_WINDOW_SECONDS, Entity
from fraudit.features.history import CardTransaction
from fraudit.online.idempotency import DONE
from fraudit.online.plan import (
    SEPARATOR,
    Attempt,
    BeginAnswer,
    BeginCall,
    StoreKeys,
    begin_call,
    parse_begin,
    plan_entities,
)
from fraudit.online.scripts import ABANDON, BEGIN, RAISE_COUNTER
from fraudit.online.store import Abandon, Recorded, StoreUnavailable
from fraudit.settings import Settings

log = logging.getLogger("fraudit.online")
# One server or a cluster: the store uses what both offer (scripts, pipelines, SCAN).
Client = redis.Redis | RedisCluster

# How often a repeat polls for the answer of a first request still in progress.
WAIT_POLL_SECONDS = 0.02
# How long a claim (a pending idempotency record) lives unless its request finishes or
# abandons it: longer than any request's deadline (FRAUDIT_API_DEADLINE_SECONDS <= 28), so
# a claim whose owner died (a killed process, a connection lost mid-pipeline) frees its
# transaction_id within seconds instead of blocking it for the whole idempotency TTL.
CLAIM_TTL_SECONDS = 30
# How long an abandoned attempt stays fenced: a BEGIN sent before its client gave up can
# sit in a slow or paused server's queue; one still waiting after this long would run.
FENCE_TTL_SECONDS = 3_600
# ABANDON is idempotent: one more try after a failure, each within the client's timeout.
ABANDON_ATTEMPTS = 2


def connect(
    url: str,
    timeout_seconds: float,
    credential_provider: CredentialProvider | None = None,
    *,
    cluster: bool = False,
) -> Client:
    """A client that fails fast: one attempt, bounded connect and read times (the
    request's deadline is the only retry budget). No handshake on connect (RESP2, so no
    HELLO; no CLIENT SETINFO): a new connection sends its first command at once, so an
    ABANDON after a timeout reaches a slow server even when no answer comes back in time.
    `credential_provider`: a user and a short-lived token per new connection (IAM
    authentication, fraudit.online.iam_auth); the AUTH is then the only handshake.
    `cluster`: a Redis Cluster client (ElastiCache Serverless runs in cluster mode only),
    which follows the slots' owners; every key of one prefix is in one slot (StoreKeys)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        "decode_responses": False,
        "protocol": 2,
        "driver_info": None,
        "credential_provider": credential_provider,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


class OnlineStore:
    def __init__(
        self,
        client: Client,
        *,
        prefix: str = "fraudit:",
        idempotency_ttl_seconds: int = 3_600,
        lateness_seconds: float = 7 * 86_400,
        caps: Mapping[Entity, int] = HISTORY_CAPS,
    ) -> None:
        """`caps`: how many transactions per entity count (the features' rule 8); other
        than the declared ones only where the reference is given the same (tests)."""
        self.client = client
        self.keys = StoreKeys(prefix)
        self.idempotency_ttl_ms = int(idempotency_ttl_seconds * 1_000)
        self.lateness_seconds = lateness_seconds
        # Keys outlive the longest window by the allowed lateness, then expire.
        self.state_ttl_seconds = int(MAX_WINDOW_SECONDS + lateness_seconds)
        self.plans = plan_entities(caps=caps)
        self._sha: dict[str, str] = {}

    def begin_call(
        self,
        transaction_id: str,
        *,
        pending: str | None = None,
        tx: CardTransaction | None = None,
        read: bool = True,
        arrival: int | None = None,
        owner: str | None = None,
        attempt: str = "",
    ) -> BeginCall:
        """The BEGIN step's arguments for one transaction, with this store's keys, TTLs and
        allowed lateness (see fraudit.online.plan.begin_call)."""
        return begin_call(
            self.keys,
            transaction_id,
            pending=pending,
            idempotency_ttl_ms=CLAIM_TTL_SECONDS * 1_000,
            state_ttl_seconds=self.state_ttl_seconds,
            lateness_seconds=self.lateness_seconds,
            tx=tx,
            read=read,
            arrival=arrival,
            owner=owner,
            attempt=attempt,
            plans=self.plans,
        )

    def _run(
        self, script: str, calls: Sequence[tuple[list[str], list[str]]], *, by_body: bool = False
    ) -> list[Any]:
        """Run one script per call in one round trip (re-loading it once if the server
        forgot it, e.g. after a restart). `by_body` sends the script itself (EVAL): no load
        round trip first, for the failure path, which must work when a load would time out.
        Each call's answer, or the StoreUnavailable of a call the server refused (out of
        memory under `noeviction`: a script is refused at its first write, so it wrote
        nothing); a connection fault fails them all."""
        for attempt in (1, 2):
            try:
                pipe = self.client.pipeline(transaction=False)
                # execute_command: a cluster pipeline refuses its eval/evalsha methods
                # but routes the raw commands. Told their node (every key of a prefix is
                # in one slot), it does not ask the server for a script's keys first:
                # redis-py 8's cluster pipeline sent a COMMAND GETKEYS per script, one
                # more round trip per request.
                route = self._route()
                if by_body:
                    for keys, args in calls:
                        pipe.execute_command("EVAL", script, len(keys), *keys, *args, **route)
                else:
                    if script not in self._sha:
                        self._sha[script] = self.client.script_load(script)
                    sha = self._sha[script]
                    for keys, args in calls:
                        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args, **route)
                answers = pipe.execute(raise_on_error=False)
            except RedisError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None
            if any(isinstance(a, NoScriptError) for a in answers) and attempt == 1:
                # Nothing ran (the server had no script): load it and send them all again.
                self._sha.pop(script, None)
                continue
            return [
                StoreUnavailable(f"{type(a).__name__}: {a}", "no")
                if isinstance(a, RedisError)
                else a
                for a in answers
            ]
        raise AssertionError("unreachable")

    def _route(self) -> dict[str, Any]:
        """A cluster client's target for this prefix's slot (its current owner); nothing
        for one server."""
        if isinstance(self.client, RedisCluster):
            return {"target_nodes": self.client.get_node_from_key(self.keys.namespace)}
        return {}

    @staticmethod
    def _check(deadline: Deadline) -> None:
        if deadline.remaining() <= 0:
            raise StoreUnavailable("no time left before the request's deadline")

    def begin_many(
        self, calls: Sequence[BeginCall], deadline: Deadline | None = None
    ) -> list[BeginAnswer | StoreUnavailable]:
        """Each call's answer, or the refusal of that call alone (it wrote nothing); raises
        StoreUnavailable when the store could not be asked or did not answer."""
        self._check(deadline or no_deadline())
        answers = self._run(BEGIN, [(c.keys, c.args) for c in calls])
        out: list[BeginAnswer | StoreUnavailable] = []
        for answer, call in zip(answers, calls, strict=True):
            parsed = answer if isinstance(answer, StoreUnavailable) else parse_begin(answer, call)
            if isinstance(parsed, BeginAnswer) and parsed.fenced:
                parsed = StoreUnavailable("the attempt was abandoned before it ran", "no")
            elif isinstance(parsed, BeginAnswer) and parsed.rebuilding:
                parsed = StoreUnavailable("the online store is being rebuilt", "no")
            out.append(parsed)
        return out

    def finish_many(
        self, records: Sequence[tuple[str, str]], answered: Sequence[Attempt] = ()
    ) -> None:
        """Keep each transaction_id's answer (`(transaction_id, done record)`) for repeats,
        and take the `answered` attempts (their transaction is on the stream) off the
        attempts register: no reaper needs to judge them."""
        if not records and not answered:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for transaction_id, record in records:
                # PSETEX (SET with PX): the scripts never call it, so INFO commandstats
                # counts exactly the finishing round trips (docs/BENCHMARKS.md).
                pipe.psetex(self.keys.idempotency(transaction_id), self.idempotency_ttl_ms, record)
            if answered:
                pipe.zrem(self.keys.attempts, *(a.register_text for a in answered))
            pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from None

    def abandon_many(self, items: Sequence[Abandon]) -> None:
        """Undo each attempt (fencing those whose BEGIN answer never came); tried twice,
        since it is idempotent. Raises StoreUnavailable if it could not be done: what the
        attempts counted may then stay."""
        calls = [
            a.call.abandon(a.pending, FENCE_TTL_SECONDS * 1_000 if a.fence else None) for a in items
        ]
        if not calls:
            return
        for attempt in range(1, ABANDON_ATTEMPTS + 1):
            try:
                answers = self._run(ABANDON, calls, by_body=True)
                failed = [a for a in answers if isinstance(a, StoreUnavailable)]
                if not failed:
                    return
                error = failed[0]
            except StoreUnavailable as exc:
                error = exc
            if attempt == ABANDON_ATTEMPTS:
                raise error

    def unfinished_attempts(self, began_before_ms: int, limit: int) -> list[Attempt]:
        """Attempts that counted a transaction, began before `began_before_ms` (the
        server's clock) and neither finished nor abandoned it: their process died or
        could not reach the store after answering. The oldest first, at most `limit`."""
        try:
            entries = self.client.zrangebyscore(
                self.keys.attempts, "-inf", f"({began_before_ms}", start=0, num=limit
            )
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None
        return [Attempt.from_register(_text(e)) for e in entries]

    def settle_attempts(self, undo: Sequence[Attempt], keep: Sequence[Attempt]) -> list[str]:
        """Take attempts off the register: the `keep` ones (their transactions are on
        record) as they are; the `undo` ones by a reaper's ABANDON, which leaves a
        transaction that was answered or is being retried (scripts.ABANDON). Returns each
        undo's outcome: 'undone', 'none', 'answered' or 'claimed' (still registered)."""
        if keep:
            try:
                self.client.zrem(self.keys.attempts, *(a.register_text for a in keep))
            except RedisError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None
        if not undo:
            return []
        calls = [a.abandon(self.keys, None, None, judged_against=DONE) for a in undo]
        answers = self._run(ABANDON, calls, by_body=True)
        for answer in answers:
            if isinstance(answer, StoreUnavailable):
                raise answer
        return [_text(a) for a in answers]

    def wait_for_answer(self, transaction_id: str, deadline: Deadline) -> str | None:
        """Poll a pending record until it is done or gone, or the deadline comes: returns
        the record (still pending at the deadline), or None once it is gone."""
        key = self.keys.idempotency(transaction_id)
        while True:
            try:
                value = self.client.get(key)
            except RedisError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from None
            record = (
                None
                if value is None
                else value.decode()
                if isinstance(value, bytes)
                else str(value)
            )
            if record is None or not record.startswith("P") or deadline.remaining() <= 0:
                return record
            time.sleep(min(WAIT_POLL_SECONDS, max(deadline.remaining(), 0.0)))

    def hold_card_path(self, seconds: int) -> None:
        """Raise (or refresh) the rebuild's marker: live card transactions are refused
        until it is released or expires."""
        try:
            self.client.set(self.keys.rebuilding, "1", ex=seconds)
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None

    def release_card_path(self) -> None:
        try:
            self.client.delete(self.keys.rebuilding)
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None

    def raise_arrival_counter(self, at_least: int) -> None:
        try:
            self.client.eval(RAISE_COUNTER, 1, self.keys.arrival, str(at_least))
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None

    def entities(self) -> Iterator[tuple[Entity, str]]:
        """SCAN, never KEYS: a large store is not blocked."""
        for entity in Entity:
            head = self.keys.entity(entity, "")
            for key in self.client.scan_iter(match=f"{_glob_escape(head)}*", count=1_000):
                yield entity, _text(key)[len(head) :]

    def entity_transactions(self, entity: Entity, key: str) -> list[str]:
        members = self.client.zrange(self.keys.entity(entity, key), 0, -1)
        return [_text(m).split(SEPARATOR, 1)[0] for m in members]

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except RedisError:
            return False


def _glob_escape(text: str) -> str:
    """`text` as a literal in a SCAN MATCH pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _recorded(exc: RedisError) -> Recorded:
    """Whether a failed round trip may have run: not if no connection was made (redis-py
    says "connecting" then), or the server answered with an error; maybe otherwise."""
    if isinstance(exc, ResponseError) or "connecting" in str(exc):
        return "no"
    return "unknown"


def clear_prefix(client: Client, prefix: str, batch: int = 1_000) -> int:
    """Delete every key of the store prefix `prefix` (a demo's fresh start, a test's
    cleanup); SCAN, never KEYS, so a large store is not blocked. Returns how many went."""
    if not prefix:
        raise ValueError("refusing to clear every key: give a prefix")
    removed = 0
    pattern = _glob_escape(StoreKeys(prefix).namespace) + "*"
    chunk: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=batch):
        chunk.append(key)
        if len(chunk) >= batch:
            removed += int(client.unlink(*chunk))
            chunk = []
    if chunk:
        removed += int(client.unlink(*chunk))
    return removed


def store_from_settings(settings: Settings) -> OnlineStore:
    """The store the settings describe: its URL, one server or a cluster, IAM
    authentication when a user is named, its prefix, TTLs and allowed lateness."""
    credentials = None
    if settings.redis_iam_user:
        from fraudit.online.iam_auth import IamCredentials

        if not settings.redis_iam_cache_name:
            raise ValueError("FRAUDIT_REDIS_IAM_USER needs FRAUDIT_REDIS_IAM_CACHE_NAME")
        credentials = IamCredentials.for_serverless_cache(
            settings.redis_iam_user, settings.redis_iam_cache_name, settings.aws_region
        )
    return OnlineStore(
        connect(
            settings.redis_url,
            settings.redis_timeout_seconds,
            credentials,
            cluster=settings.redis_cluster,
        ),
        prefix=settings.redis_key_prefix,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        lateness_seconds=settings.max_event_age_days * 86_400,
    )
