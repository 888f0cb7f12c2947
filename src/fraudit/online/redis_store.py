"""The online store on Redis (redis-py): the thin adapter that runs the steps of
`fraudit.online.scripts` with the arguments `fraudit.online.plan` builds.

A card request makes two round trips to begin: the CLAIM of its transaction_id in the
id's bucket, then one ENTITY step per entity (count the transaction and read the entity's
history, atomically in that entity's slot), the entity steps pipelined so that on a
cluster each shard's part overlaps the others'. One more round trip finishes it (keep the
answer for repeats); three undo it (fraudit.online.scripts). A request without a card
transaction (a ULB vector with a transaction_id) makes the CLAIM only. A batch pipelines
its items into those same round trips.
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
from fraudit.online import idempotency
from fraudit.online.plan import (
    COUNT,
    COUNTER_MEMBER,
    SEPARATOR,
    Attempt,
    BeginAnswer,
    BeginCall,
    Step,
    StoreKeys,
    begin_call,
    parse_claim,
    parse_entities,
    plan_entities,
)
from fraudit.online.scripts import ABANDON_ENTITY, ABANDON_RELEASE, CLAIM, ENTITY, REAP_PREPARE
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
        arrivals: Mapping[Entity, int] | None = None,
        owner: str | None = None,
        attempt: str = "",
    ) -> BeginCall:
        """The steps of one transaction, with this store's keys, TTLs and allowed lateness
        (see fraudit.online.plan.begin_call)."""
        return begin_call(
            self.keys,
            transaction_id,
            pending=pending,
            idempotency_ttl_ms=CLAIM_TTL_SECONDS * 1_000,
            state_ttl_seconds=self.state_ttl_seconds,
            lateness_seconds=self.lateness_seconds,
            tx=tx,
            read=read,
            arrivals=arrivals,
            owner=owner,
            attempt=attempt,
            plans=self.plans,
        )

    def _run(self, script: str, calls: Sequence[Step], *, by_body: bool = False) -> list[Any]:
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
                # but routes the raw commands. Told each step's node (every key of a step
                # is in one slot), it does not ask the server for a script's keys first:
                # redis-py 8's cluster pipeline sent a COMMAND GETKEYS per script, one
                # more round trip per request.
                if by_body:
                    head: tuple[str, ...] = ("EVAL", script)
                else:
                    if script not in self._sha:
                        # A cluster client loads it on every primary.
                        self._sha[script] = self.client.script_load(script)
                    head = ("EVALSHA", self._sha[script])
                for keys, args in calls:
                    pipe.execute_command(*head, len(keys), *keys, *args, **self._route(keys[0]))
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

    def _route(self, key: str) -> dict[str, Any]:
        """A cluster client's target for a step whose first key is `key` (the slot's
        current owner); nothing for one server."""
        if isinstance(self.client, RedisCluster):
            return {"target_nodes": self.client.get_node_from_key(key)}
        return {}

    @staticmethod
    def _check(deadline: Deadline) -> None:
        if deadline.remaining() <= 0:
            raise StoreUnavailable("no time left before the request's deadline")

    def begin_many(
        self, calls: Sequence[BeginCall], deadline: Deadline | None = None
    ) -> list[BeginAnswer | StoreUnavailable]:
        """Each call's answer, or the refusal of that call alone (it left nothing); raises
        StoreUnavailable when the store could not be asked or did not answer."""
        self._check(deadline or no_deadline())
        out: list[BeginAnswer | StoreUnavailable | None] = []
        counting: dict[int, str] = {}  # index -> the CLAIM's status, for the entity steps
        claims = self._run(CLAIM, [(c.keys, c.args) for c in calls])
        for i, answer in enumerate(claims):
            if isinstance(answer, StoreUnavailable):
                out.append(answer)
                continue
            status, parsed = parse_claim(answer)
            if parsed is None:
                counting[i] = status
            out.append(_refusal(parsed) if parsed is not None else None)
        if counting:
            steps = [(i, s) for i in counting for s in calls[i].steps]
            try:
                answers = self._run(ENTITY, [(s.keys, s.args) for _, s in steps])
            except StoreUnavailable as exc:
                # The claims ran, the entity steps may have: undo them all here, where
                # what each claim answered is known.
                undo = [
                    Abandon(
                        c,
                        c.pending,
                        counted=counting.get(i) == COUNT,
                        fence_entities=i in counting,
                    )
                    for i, c in enumerate(calls)
                    if not isinstance(claims[i], StoreUnavailable)
                ]
                raise StoreUnavailable(str(exc), self._settle(undo), settled=True) from None
            by_call: dict[int, list[Any]] = {i: [] for i in counting}
            for (i, _), answer in zip(steps, answers, strict=True):
                by_call[i].append(answer)
            refused = []
            for i, status in counting.items():
                failure = next((f for f in map(_entity_failure, by_call[i]) if f), None)
                if failure is None:
                    out[i] = parse_entities(status, by_call[i], calls[i])
                else:
                    refused.append(i)
            # A step refused (out of memory under noeviction) after the claim wrote: undo
            # what the call's other steps did, so the refusal is true.
            recorded = self._settle(
                [Abandon(calls[i], calls[i].pending, counted=counting[i] == COUNT) for i in refused]
            )
            for i in refused:
                out[i] = StoreUnavailable("the online store refused a step", recorded)
        answered = [a for a in out if a is not None]
        assert len(answered) == len(calls)
        return answered

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
            for a in answered:
                pipe.zrem(self.keys.attempts(a.transaction_id), a.register_text)
            pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from None

    def _settle(self, undo: Sequence[Abandon]) -> Recorded:
        """Undo attempts the store failed part-way: "no" once done, "unknown" if not."""
        try:
            self.abandon_many(undo)
        except StoreUnavailable as exc:
            log.error("could not undo %d attempts after a store failure: %s", len(undo), exc)
            return "unknown"
        return "no"

    def abandon_many(self, items: Sequence[Abandon]) -> None:
        """Undo each attempt: its members in each entity's slot first (when it counted the
        transaction, or its entity steps may still run: fenced there), then the claim's
        bucket (record, register entry, claim; fenced when its CLAIM may still run). The
        claim is held until the last step, so no retry is answered on a count being
        undone; if the entities' part fails, the bucket's is not done and the register
        keeps the attempt for the reaper. Tried twice, since it is idempotent; every step
        sent by its body (EVAL), with no load round trip on a path that must work when a
        load would time out. Raises StoreUnavailable if it could not be done."""
        if not items:
            return
        fence_ms = FENCE_TTL_SECONDS * 1_000
        entity_steps = [
            a.call.undo.undo_in(key, fence_ms if a.fence_entities else None, a.counted)
            for a in items
            if a.counted or a.fence_entities
            for key in a.call.undo.sets
        ]
        releases = [
            a.call.undo.release(self.keys, a.pending, fence_ms if a.fence else None) for a in items
        ]
        for attempt in range(1, ABANDON_ATTEMPTS + 1):
            try:
                if entity_steps:
                    _raise_first(self._run(ABANDON_ENTITY, entity_steps, by_body=True))
                _raise_first(self._run(ABANDON_RELEASE, releases, by_body=True))
                return
            except StoreUnavailable:
                if attempt == ABANDON_ATTEMPTS:
                    raise

    def _reap(self, attempts: Sequence[Attempt]) -> list[str]:
        """A reaper's undo, in three round trips (REAP_PREPARE in the bucket, the
        entities' slots, ABANDON_RELEASE): each attempt's outcome, 'undone', 'none' (it
        had counted nothing), 'answered' or 'claimed' (left as it is)."""
        holds = [idempotency.pending(a.owner, "reaper") for a in attempts]
        prepared = self._run(
            REAP_PREPARE,
            [
                a.prepare(self.keys, done=idempotency.DONE, hold=h)
                for a, h in zip(attempts, holds, strict=True)
            ],
            by_body=True,
        )
        _raise_first(prepared)
        statuses = [_text(p) for p in prepared]
        steps = [
            a.undo_in(key, None, True)
            for a, status in zip(attempts, statuses, strict=True)
            if status == "undo"
            for key in a.sets
        ]
        if steps:
            _raise_first(self._run(ABANDON_ENTITY, steps, by_body=True))
        releases = [
            a.release(self.keys, hold)
            for a, hold, status in zip(attempts, holds, statuses, strict=True)
            if status in ("undo", "keep")
        ]
        if releases:
            _raise_first(self._run(ABANDON_RELEASE, releases, by_body=True))
        return [{"undo": "undone", "keep": "none"}.get(s, s) for s in statuses]

    def unfinished_attempts(self, began_before_ms: int, limit: int) -> list[Attempt]:
        """Attempts that counted a transaction, began before `began_before_ms` (the
        server's clock) and neither finished nor abandoned it: their process died or
        could not reach the store after answering. The oldest first, at most `limit`,
        from every bucket's register."""
        try:
            pipe = self.client.pipeline(transaction=False)
            for bucket in self.keys.buckets:
                pipe.zrangebyscore(
                    self.keys.attempts_in(bucket),
                    "-inf",
                    f"({began_before_ms}",
                    start=0,
                    num=limit,
                    withscores=True,
                )
            registers = pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None
        entries = sorted(
            ((score, _text(entry)) for register in registers for entry, score in register)
        )[:limit]
        return [Attempt.from_register(entry) for _, entry in entries]

    def settle_attempts(self, undo: Sequence[Attempt], keep: Sequence[Attempt]) -> list[str]:
        """Take attempts off the register: the `keep` ones (their transactions are on
        record) as they are; the `undo` ones by a reaper's undo, which leaves a
        transaction that was answered or is being retried (scripts.REAP_PREPARE).
        Returns each undo's outcome: 'undone', 'none', 'answered' or 'claimed' (still
        registered)."""
        if keep:
            try:
                pipe = self.client.pipeline(transaction=False)
                for a in keep:
                    pipe.zrem(self.keys.attempts(a.transaction_id), a.register_text)
                pipe.execute()
            except RedisError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None
        if not undo:
            return []
        return self._reap(undo)

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
        """Raise (or refresh) the rebuild's marker in every claim bucket: live card
        transactions are refused until it is released or expires."""
        self._each_bucket(
            lambda pipe, bucket: pipe.set(self.keys.rebuilding(bucket), "1", ex=seconds)
        )

    def release_card_path(self) -> None:
        self._each_bucket(lambda pipe, bucket: pipe.delete(self.keys.rebuilding(bucket)))

    def _each_bucket(self, command: Any) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for bucket in self.keys.buckets:
                command(pipe, bucket)
            pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}", _recorded(exc)) from None

    def entities(self) -> Iterator[tuple[Entity, str]]:
        """SCAN, never KEYS: a large store is not blocked. An entity's set is the key
        that ends with its hash tag (its fences follow the tag)."""
        for entity in Entity:
            head = self.keys.entity(entity, "")[:-1]
            pattern = f"{_glob_escape(head)}*}}"
            for key in self.client.scan_iter(match=pattern, count=1_000):
                yield entity, _text(key)[len(head) : -1]

    def entity_transactions(self, entity: Entity, key: str) -> list[str]:
        members = self.client.zrange(self.keys.entity(entity, key), 0, -1)
        return [_text(m).split(SEPARATOR, 1)[0] for m in members if _text(m) != COUNTER_MEMBER]

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except RedisError:
            return False


def _glob_escape(text: str) -> str:
    """`text` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _refusal(answer: BeginAnswer) -> BeginAnswer | StoreUnavailable:
    """A CLAIM's answer, or the refusal it means (nothing was written)."""
    if answer.fenced:
        return StoreUnavailable("the attempt was abandoned before it ran", "no")
    if answer.rebuilding:
        return StoreUnavailable("the online store is being rebuilt", "no")
    return answer


def _entity_failure(answer: Any) -> StoreUnavailable | None:
    """An entity step's refusal (out of memory) or fence, else None."""
    if isinstance(answer, StoreUnavailable):
        return answer
    if answer and _text(answer[0]) == "fenced":
        return StoreUnavailable("the attempt was abandoned before it ran", "no")
    return None


def _raise_first(answers: Sequence[Any]) -> None:
    for answer in answers:
        if isinstance(answer, StoreUnavailable):
            raise answer


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
