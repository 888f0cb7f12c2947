"""Rules and lists in PostgreSQL (migrations/007_rules.sql): immutable rule versions, an
append-only trail of every change with who made it and why, maker and checker, list
versions; and publishing the shadow and live rules with their lists as one document
(docs/RULES.md, "Lifecycle"). The API never reads these tables: it reads the document."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fraudit.contracts import IpAddress, SubjectId
from fraudit.db.sql import CURRENT_RULE_STATES
from fraudit.families import families, family
from fraudit.rules.document import (
    ListKind,
    PublishedList,
    PublishedRule,
    RulesetDocument,
    RuleState,
)
from fraudit.rules.engine import CompiledRuleset, check_rule

PUBLISHED_STATES = (RuleState.SHADOW, RuleState.LIVE)
_VALUES = {
    ListKind.CARD: TypeAdapter(SubjectId),
    ListKind.MERCHANT: TypeAdapter(SubjectId),
    ListKind.DEVICE: TypeAdapter(SubjectId),
    ListKind.USER: TypeAdapter(SubjectId),
    ListKind.IP: TypeAdapter(IpAddress),
}


class RuleChangeRefused(ValueError):
    """A change the lifecycle does not allow, or a rule that does not compile: nothing was
    written."""


@dataclass(frozen=True)
class RuleVersion:
    rule_id: str
    version: int
    family: str
    action: str
    priority: int
    expression: str
    reason: str
    adjustment: float | None
    created_by: str
    why: str
    state: str

    def published(self, state: str | None = None) -> PublishedRule:
        return PublishedRule(
            rule_id=self.rule_id,
            version=self.version,
            family=self.family,
            state=state or self.state,
            action=self.action,
            priority=self.priority,
            expression=self.expression,
            reason=self.reason,
            adjustment=self.adjustment,
        )


@dataclass(frozen=True)
class ListEntry:
    value: str
    expires_at: datetime | None = None
    note: str | None = None


# A list's entries at a version (NULL: the newest): what its changes up to it leave.
_ENTRIES_AT = """
SELECT value, expires_at FROM (
    SELECT DISTINCT ON (value) value, op, expires_at FROM fraud_list_changes
    WHERE name = %(name)s AND (%(version)s::int IS NULL OR version <= %(version)s::int)
    ORDER BY value, change_id DESC
) latest WHERE op = 'add'
"""


def _not_blank(name: str, value: str | None) -> str:
    if not value or not value.strip():
        raise RuleChangeRefused(f"{name} is required (who, and why: the audit trail keeps both)")
    return value.strip()


class RuleStore:
    """Every change is one transaction on `conn` (a psycopg connection)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    # --- rules --------------------------------------------------------------------------

    def versions(self, rule_id: str | None = None) -> list[RuleVersion]:
        where = " WHERE v.rule_id = %(rule_id)s" if rule_id else ""
        rows = self.conn.execute(
            CURRENT_RULE_STATES + where + " ORDER BY v.rule_id, v.version", {"rule_id": rule_id}
        ).fetchall()
        return [RuleVersion(*row) for row in rows]

    def version_of(self, rule_id: str, version: int | None) -> RuleVersion:
        known = self.versions(rule_id)
        if not known:
            raise RuleChangeRefused(f"no rule {rule_id!r}")
        if version is None:
            return known[-1]
        for candidate in known:
            if candidate.version == version:
                return candidate
        raise RuleChangeRefused(f"rule {rule_id!r} has no version {version}")

    def create(
        self,
        *,
        rule_id: str,
        family_name: str,
        action: str,
        expression: str,
        reason: str,
        author: str,
        why: str,
        priority: int = 100,
        adjustment: float | None = None,
    ) -> RuleVersion:
        """A new version of `rule_id` (its first, or the next), as a draft: refused unless it
        compiles against its family's fields and the lists as they are now."""
        author, why = _not_blank("--as", author), _not_blank("--why", why)
        declared = family(family_name)
        with self.conn.transaction():
            (latest,) = self.conn.execute(
                "SELECT coalesce(max(version), 0) FROM fraud_rule_versions WHERE rule_id = %s",
                (rule_id,),
            ).fetchone()
            try:
                draft = PublishedRule(
                    rule_id=rule_id,
                    version=latest + 1,
                    family=declared.name,
                    state=RuleState.SHADOW,  # checked as it would be published
                    action=action,
                    priority=priority,
                    expression=expression,
                    reason=reason,
                    adjustment=adjustment,
                )
            except ValidationError as exc:
                raise RuleChangeRefused(_first_error(exc)) from None
            problems = check_rule(draft, declared, self.published_lists())
            if problems:
                raise RuleChangeRefused("; ".join(str(p) for p in problems))
            self.conn.execute(
                "INSERT INTO fraud_rule_versions (rule_id, version, family, action, priority,"
                " expression, reason, adjustment, created_by, why)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    rule_id,
                    draft.version,
                    declared.name,
                    str(draft.action),
                    priority,
                    expression,
                    reason,
                    adjustment,
                    author,
                    why,
                ),
            )
            self._change(rule_id, draft.version, RuleState.DRAFT, author, None, why)
        return self.version_of(rule_id, draft.version)

    def _change(
        self, rule_id: str, version: int, state: str, by: str, approver: str | None, why: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO fraud_rule_changes (rule_id, version, state, changed_by, approved_by, why)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (rule_id, version, state, by, approver, why),
        )

    def promote(
        self,
        rule_id: str,
        to: RuleState,
        *,
        actor: str,
        why: str,
        approver: str | None = None,
        version: int | None = None,
    ) -> RuleVersion:
        """Put a version in shadow or live. Live needs a second name: the approver, who
        neither wrote the version nor promotes it (maker and checker). Another version of
        the same rule that was published is retired, superseded."""
        actor, why = _not_blank("--as", actor), _not_blank("--why", why)
        if to not in PUBLISHED_STATES:
            raise RuleChangeRefused("a rule is promoted to shadow or live; use retire to retire it")
        with self.conn.transaction():
            chosen = self.version_of(rule_id, version)
            if chosen.state == RuleState.RETIRED:
                raise RuleChangeRefused(
                    f"{rule_id} v{chosen.version} is retired; create a new version instead"
                )
            if chosen.state == to:
                raise RuleChangeRefused(f"{rule_id} v{chosen.version} is already {to}")
            if to == RuleState.LIVE:
                if not approver or not approver.strip():
                    raise RuleChangeRefused(
                        "promotion to live needs a second person: --approved-by NAME"
                    )
                approver = approver.strip()
                if approver in (chosen.created_by, actor):
                    raise RuleChangeRefused(
                        f"the approver must be someone else than the rule's author "
                        f"({chosen.created_by}) and than who promotes it ({actor})"
                    )
            problems = check_rule(
                chosen.published(str(to)), family(chosen.family), self.published_lists()
            )
            if problems:
                raise RuleChangeRefused("; ".join(str(p) for p in problems))
            for other in self.versions(rule_id):
                if other.version != chosen.version and other.state in PUBLISHED_STATES:
                    self._change(
                        rule_id,
                        other.version,
                        RuleState.RETIRED,
                        actor,
                        None,
                        f"superseded by v{chosen.version}",
                    )
            self._change(
                rule_id, chosen.version, to, actor, approver if to == RuleState.LIVE else None, why
            )
        return self.version_of(rule_id, chosen.version)

    def retire(self, rule_id: str, *, actor: str, why: str) -> list[RuleVersion]:
        actor, why = _not_blank("--as", actor), _not_blank("--why", why)
        with self.conn.transaction():
            active = [v for v in self.versions(rule_id) if v.state != RuleState.RETIRED]
            if not self.versions(rule_id):
                raise RuleChangeRefused(f"no rule {rule_id!r}")
            for version in active:
                self._change(rule_id, version.version, RuleState.RETIRED, actor, None, why)
        return active

    def published_rules(self) -> list[PublishedRule]:
        return [v.published() for v in self.versions() if v.state in PUBLISHED_STATES]

    # --- lists --------------------------------------------------------------------------

    def create_list(self, name: str, kind: str, *, actor: str, why: str) -> None:
        actor, why = _not_blank("--as", actor), _not_blank("--why", why)
        try:
            PublishedList(name=name, kind=kind, version=1, entries={})
        except ValidationError as exc:
            raise RuleChangeRefused(_first_error(exc)) from None
        with self.conn.transaction():
            exists = self.conn.execute("SELECT 1 FROM fraud_lists WHERE name = %s", (name,))
            if exists.fetchone():
                raise RuleChangeRefused(f"a list named {name!r} exists")
            self.conn.execute(
                "INSERT INTO fraud_lists (name, kind, created_by, why) VALUES (%s, %s, %s, %s)",
                (name, kind, actor, why),
            )

    def kind_of(self, name: str) -> ListKind:
        row = self.conn.execute("SELECT kind FROM fraud_lists WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise RuleChangeRefused(f"no list named {name!r} (fraudit lists create)")
        return ListKind(row[0])

    def _next_list_version(self, name: str) -> int:
        (latest,) = self.conn.execute(
            "SELECT coalesce(max(version), 0) FROM fraud_list_changes WHERE name = %s", (name,)
        ).fetchone()
        return int(latest) + 1

    def add_entries(self, name: str, entries: Sequence[ListEntry], *, actor: str, why: str) -> int:
        """Add (or renew) entries as one new version of the list; each value is checked
        against the list's kind first. Returns the version."""
        actor, why = _not_blank("--as", actor), _not_blank("--why", why)
        if not entries:
            raise RuleChangeRefused("no entries to add")
        with self.conn.transaction():
            kind = self.kind_of(name)
            for number, entry in enumerate(entries, 1):
                problem = entry_problem(kind, entry.value)
                if problem:
                    raise RuleChangeRefused(f"entry {number}: {problem}")
            version = self._next_list_version(name)
            with self.conn.cursor().copy(
                "COPY fraud_list_changes (name, version, op, value, expires_at, note,"
                " changed_by, why) FROM STDIN"
            ) as copy:
                for entry in entries:
                    copy.write_row(
                        (
                            name,
                            version,
                            "add",
                            entry.value,
                            entry.expires_at,
                            entry.note,
                            actor,
                            why,
                        )
                    )
        return version

    def remove_entries(self, name: str, values: Sequence[str], *, actor: str, why: str) -> int:
        actor, why = _not_blank("--as", actor), _not_blank("--why", why)
        with self.conn.transaction():
            self.kind_of(name)
            current = set(self.entries_at(name))
            missing = [v for v in values if v not in current]
            if missing:
                raise RuleChangeRefused(f"not in {name}: {', '.join(missing[:5])}")
            version = self._next_list_version(name)
            for value in values:
                self.conn.execute(
                    "INSERT INTO fraud_list_changes (name, version, op, value, changed_by, why)"
                    " VALUES (%s, %s, 'remove', %s, %s, %s)",
                    (name, version, value, actor, why),
                )
        return version

    def entries_at(self, name: str, version: int | None = None) -> dict[str, float | None]:
        """A list's entries (value -> expiry in Unix seconds) at `version` (the newest)."""
        rows = self.conn.execute(_ENTRIES_AT, {"name": name, "version": version})
        return {value: None if expires is None else expires.timestamp() for value, expires in rows}

    def published_lists(self) -> list[PublishedList]:
        out = []
        for name, kind in self.conn.execute("SELECT name, kind FROM fraud_lists ORDER BY name"):
            entries = self.entries_at(name)
            version = self._next_list_version(name) - 1
            out.append(
                PublishedList(name=name, kind=kind, version=max(version, 1), entries=entries)
            )
        return out

    # --- publishing ---------------------------------------------------------------------

    def publish(self, write: Any, target: str, *, actor: str) -> RulesetDocument:
        """The shadow and live rules with every list, compiled, written by `write` (the
        document's bytes -> None) and recorded; the version is the next publication's."""
        actor = _not_blank("--as", actor)
        with self.conn.transaction():
            self.conn.execute("LOCK TABLE fraud_ruleset_publications IN EXCLUSIVE MODE")
            (latest,) = self.conn.execute(
                "SELECT coalesce(max(version), 0) FROM fraud_ruleset_publications"
            ).fetchone()
            document = RulesetDocument(
                version=f"rs-{latest + 1}",
                published_at=datetime.now(UTC),
                rules=tuple(self.published_rules()),
                lists=tuple(self.published_lists()),
            )
            CompiledRuleset(document, families())  # never publish what the API would refuse
            body = document.to_json().encode()
            self.conn.execute(
                "INSERT INTO fraud_ruleset_publications (version, published_by,"
                " document_sha256, target, rules, list_versions)"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
                (
                    latest + 1,
                    actor,
                    hashlib.sha256(body).hexdigest(),
                    target,
                    len(document.rules),
                    _json(document.list_versions()),
                ),
            )
            write(body)
        return document


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def entry_problem(kind: ListKind, value: str) -> str | None:
    try:
        _VALUES[kind].validate_python(value)
    except ValidationError as exc:
        return f"{value[:40]!r} is not a {kind} value: {exc.errors(include_url=False)[0]['msg']}"
    return None


def read_entries(text: str, kind: ListKind) -> list[ListEntry]:
    """A list file: CSV with a header naming `value` and optionally `expires_at` (ISO 8601
    with its offset) and `note`. A bad row stops the import, naming its line and column."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if "value" not in columns:
        raise RuleChangeRefused("line 1: the header must name a 'value' column")
    unknown = sorted(set(columns) - {"value", "expires_at", "note"})
    if unknown:
        raise RuleChangeRefused(f"line 1: unknown columns {unknown}")
    entries: list[ListEntry] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        value = (row.get("value") or "").strip()
        problem = entry_problem(kind, value)
        if problem:
            raise RuleChangeRefused(f"line {line}, column value: {problem}")
        if value in seen:
            raise RuleChangeRefused(f"line {line}, column value: {value!r} is listed twice")
        seen.add(value)
        expires = (row.get("expires_at") or "").strip()
        try:
            when = datetime.fromisoformat(expires) if expires else None
        except ValueError:
            raise RuleChangeRefused(
                f"line {line}, column expires_at: {expires!r} is not an ISO 8601 time"
            ) from None
        if when is not None and when.tzinfo is None:
            raise RuleChangeRefused(
                f"line {line}, column expires_at: {expires!r} has no UTC offset"
            )
        entries.append(ListEntry(value, when, (row.get("note") or "").strip() or None))
    return entries


def describe_versions(versions: Iterable[RuleVersion]) -> list[str]:
    return [
        f"{v.rule_id} v{v.version} [{v.state}] {v.family} {v.action} p{v.priority}: "
        f"{v.expression!r} ({v.reason}) by {v.created_by}"
        for v in versions
    ]
