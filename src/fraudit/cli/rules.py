"""`fraudit rules ...`, `fraudit lists ...` and `fraudit explain`: rules and lists changed
at run time (kept in PostgreSQL, published as one document the API refreshes), and the
reasons of a stored decision recomputed (docs/RULES.md)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.decisions import RuleAction
from fraudit.settings import Settings


def _store(settings: Settings) -> Any:
    from fraudit.db.connection import open_database
    from fraudit.rules.store import RuleStore

    return RuleStore(open_database(settings))


def _publish(store: Any, settings: Settings, actor: str) -> None:
    from fraudit.aws_clients import settings_client
    from fraudit.rules.source import writer_of

    write = writer_of(settings.ruleset_uri, lambda: settings_client("s3", settings))
    document = store.publish(write, settings.ruleset_uri, actor=actor)
    live = sum(1 for r in document.rules if r.state == "live")
    _say(
        f"published {document.version} to {settings.ruleset_uri}: {live} live and "
        f"{len(document.rules) - live} shadow rule(s), {len(document.lists)} list(s); the API "
        f"serves it within {settings.ruleset_refresh_seconds:g} s"
    )


def _changed(args: argparse.Namespace, settings: Settings, work: Any) -> int:
    """Run one change; publish unless told not to. A refused change writes nothing."""
    from fraudit.rules.document import RulesetError
    from fraudit.rules.store import RuleChangeRefused

    store = _store(settings)
    try:
        work(store)
        if not getattr(args, "no_publish", False):
            _publish(store, settings, args.actor)
    except (RuleChangeRefused, RulesetError) as exc:
        _say(f"refused: {exc}")
        return 2
    finally:
        store.conn.close()
    return 0


def cmd_rules_create(args: argparse.Namespace, settings: Settings) -> int:
    expression = args.expression
    if args.expression_file:
        expression = Path(args.expression_file).read_text(encoding="utf-8").strip()
    if not expression:
        _say("error: give the rule with --expression or --expression-file")
        return 2

    def create(store: Any) -> None:
        made = store.create(
            rule_id=args.rule_id,
            family_name=args.family,
            action=args.action,
            expression=expression,
            reason=args.reason,
            author=args.actor,
            why=args.why,
            priority=args.priority,
            adjustment=args.adjustment,
        )
        _say(f"created {made.rule_id} v{made.version} as a draft (it compiles)")

    args.no_publish = True  # a draft is not published
    return _changed(args, settings, create)


def cmd_rules_promote(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.rules.document import RuleState

    def promote(store: Any) -> None:
        done = store.promote(
            args.rule_id,
            RuleState(args.to),
            actor=args.actor,
            why=args.why,
            approver=args.approved_by,
            version=args.version,
        )
        _say(f"{done.rule_id} v{done.version} is {done.state}")

    return _changed(args, settings, promote)


def cmd_rules_retire(args: argparse.Namespace, settings: Settings) -> int:
    def retire(store: Any) -> None:
        retired = store.retire(args.rule_id, actor=args.actor, why=args.why)
        names = ", ".join(f"v{v.version}" for v in retired) or "nothing active"
        _say(f"retired {args.rule_id}: {names}")

    return _changed(args, settings, retire)


def cmd_rules_publish(args: argparse.Namespace, settings: Settings) -> int:
    return _changed(args, settings, lambda store: None)


def cmd_rules_list(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.rules.store import describe_versions

    store = _store(settings)
    try:
        versions = store.versions(args.rule_id)
        shown = versions if args.all else [v for v in versions if v.state != "retired"]
        print("\n".join(describe_versions(shown) or ["no rules"]))
    finally:
        store.conn.close()
    return 0


def cmd_rules_fields(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.families import family
    from fraudit.rules.fields import fields_of

    for field in fields_of(family(args.family)):
        absent = "" if field.always else " (may be absent)"
        print(f"{field.name:34} {field.type:7} {field.description}{absent}")
    return 0


def _events(args: argparse.Namespace, store: Any) -> list[Any]:
    from fraudit.contracts import ScoredEvent

    if args.events:
        lines = Path(args.events).read_text(encoding="utf-8").splitlines()
        return [ScoredEvent.model_validate_json(line) for line in lines if line.strip()]
    rows = store.conn.execute(
        "SELECT payload FROM fraud_predictions ORDER BY scored_at DESC LIMIT %s", (args.recent,)
    ).fetchall()
    return [ScoredEvent.model_validate(row[0]) for row in rows]


def cmd_rules_test(args: argparse.Namespace, settings: Settings) -> int:
    """Compile a version (any state) and run it on given events: fired or not, with the
    values it saw. Judging it on history against the labels is `fraudit backtest`'s."""
    from datetime import UTC

    from fraudit.families import families, family, family_of_event
    from fraudit.rules.document import RulesetDocument, RulesetError
    from fraudit.rules.engine import CompiledRuleset
    from fraudit.rules.fields import rule_inputs
    from fraudit.rules.store import RuleChangeRefused

    store = _store(settings)
    try:
        chosen = store.version_of(args.rule_id, args.version)
        document = RulesetDocument(
            version="test",
            published_at=datetime.now(UTC),
            rules=(chosen.published("live"),),
            lists=tuple(store.published_lists()),
        )
        declared = family(chosen.family)
        rules = CompiledRuleset(document, families()).for_family(declared)
        events = _events(args, store)
    except (RuleChangeRefused, RulesetError) as exc:
        _say(f"refused: {exc}")
        return 2
    finally:
        store.conn.close()
    fired = 0
    for event in events:
        if family_of_event(event) is not declared:
            continue  # another family's event: the rule cannot read it
        hits, faults = rules.evaluate(rule_inputs(event), event.scored_at.timestamp())
        if hits:
            fired += 1
            _say(f"{event.event_id}: fired, saw {json.dumps(hits[0].values)}")
        elif faults:
            _say(f"{event.event_id}: could not say: {faults[0].message}")
        elif args.verbose:
            _say(f"{event.event_id}: did not fire")
    _say(f"{args.rule_id} v{chosen.version} compiles; fired on {fired} of {len(events)} event(s)")
    return 0


def _entries(args: argparse.Namespace) -> list[Any]:
    from fraudit.rules.store import ListEntry

    expires = datetime.fromisoformat(args.expires) if args.expires else None
    return [ListEntry(v, expires, args.note) for v in args.values]


def cmd_lists_create(args: argparse.Namespace, settings: Settings) -> int:
    def create(store: Any) -> None:
        store.create_list(args.name, args.kind, actor=args.actor, why=args.why)
        _say(f"created list {args.name} ({args.kind})")

    args.no_publish = True
    return _changed(args, settings, create)


def cmd_lists_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.expires and datetime.fromisoformat(args.expires).tzinfo is None:
        _say("error: --expires needs its UTC offset, e.g. 2027-01-31T00:00:00+00:00")
        return 2

    def add(store: Any) -> None:
        version = store.add_entries(args.name, _entries(args), actor=args.actor, why=args.why)
        _say(f"{args.name} v{version}: {len(args.values)} entr(ies) added")

    return _changed(args, settings, add)


def cmd_lists_remove(args: argparse.Namespace, settings: Settings) -> int:
    def remove(store: Any) -> None:
        version = store.remove_entries(args.name, args.values, actor=args.actor, why=args.why)
        _say(f"{args.name} v{version}: {len(args.values)} entr(ies) removed")

    return _changed(args, settings, remove)


def cmd_lists_import(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.rules.store import read_entries

    def load(store: Any) -> None:
        entries = read_entries(args.file.read_text(encoding="utf-8"), store.kind_of(args.name))
        version = store.add_entries(args.name, entries, actor=args.actor, why=args.why)
        _say(f"{args.name} v{version}: {len(entries):,} entries imported from {args.file}")

    return _changed(args, settings, load)


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.models.explain import explain_event, explanation_lines

    try:
        explained = explain_event(settings, args.event_id)
    except LookupError as exc:
        _say(f"error: {exc}")
        return 2
    print("\n".join(explanation_lines(explained)))  # the command's output: stdout
    return 0


def _who(parser: argparse.ArgumentParser, publishes: bool = True) -> None:
    parser.add_argument("--as", dest="actor", required=True, help="who makes the change")
    parser.add_argument("--why", required=True, help="why: the audit trail keeps it")
    if publishes:
        parser.add_argument("--no-publish", action="store_true", help="change only; publish later")


def add_parsers(sub: Any) -> None:
    rules = sub.add_parser("rules", help="rules changed at run time (docs/RULES.md)")
    verbs = rules.add_subparsers(dest="rules_command", required=True)

    p = verbs.add_parser("create", help="a new rule, or a new version of one, as a draft")
    p.add_argument("rule_id")
    p.add_argument("--family", default="cards", help="cards or ulb")
    p.add_argument("--action", required=True, choices=[str(a) for a in RuleAction])
    p.add_argument("--expression", default="", help="CEL, e.g. 'card_count_10m >= 5'")
    p.add_argument("--expression-file", default=None)
    p.add_argument("--reason", required=True, help="what an analyst reads when it fires")
    p.add_argument("--priority", type=int, default=100, help="lower wins within an action")
    p.add_argument("--adjustment", type=float, default=None, help="for --action adjust")
    _who(p, publishes=False)
    p.set_defaults(func=cmd_rules_create)

    p = verbs.add_parser("test", help="compile a version and run it on events")
    p.add_argument("rule_id")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--events", default=None, help="a file of scored events, one JSON a line")
    p.add_argument("--recent", type=int, default=1000, help="else the newest stored events")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_rules_test)

    p = verbs.add_parser("promote", help="to shadow, or live (live needs --approved-by)")
    p.add_argument("rule_id")
    p.add_argument("--to", required=True, choices=("shadow", "live"))
    p.add_argument("--version", type=int, default=None, help="default: the newest")
    p.add_argument("--approved-by", default=None, help="the second person (live only)")
    _who(p)
    p.set_defaults(func=cmd_rules_promote)

    p = verbs.add_parser("retire", help="stop a rule (every version)")
    p.add_argument("rule_id")
    _who(p)
    p.set_defaults(func=cmd_rules_retire)

    p = verbs.add_parser("publish", help="publish the shadow and live rules and the lists")
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_rules_publish)

    p = verbs.add_parser("list", help="rules and their states")
    p.add_argument("rule_id", nargs="?", default=None)
    p.add_argument("--all", action="store_true", help="retired versions too")
    p.set_defaults(func=cmd_rules_list)

    p = verbs.add_parser("fields", help="what a family's rules may read")
    p.add_argument("--family", default="cards")
    p.set_defaults(func=cmd_rules_fields)

    lists = sub.add_parser("lists", help="named lists rules read with in_list()")
    verbs = lists.add_subparsers(dest="lists_command", required=True)
    p = verbs.add_parser("create", help="a new list")
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=("card", "merchant", "device", "ip", "user"))
    _who(p, publishes=False)
    p.set_defaults(func=cmd_lists_create)
    p = verbs.add_parser("add", help="add or renew entries")
    p.add_argument("name")
    p.add_argument("values", nargs="+")
    p.add_argument("--expires", default=None, help="ISO 8601 with offset; default: never")
    p.add_argument("--note", default=None)
    _who(p)
    p.set_defaults(func=cmd_lists_add)
    p = verbs.add_parser("remove", help="remove entries")
    p.add_argument("name")
    p.add_argument("values", nargs="+")
    _who(p)
    p.set_defaults(func=cmd_lists_remove)
    p = verbs.add_parser("import", help="entries from a CSV file (value[,expires_at][,note])")
    p.add_argument("name")
    p.add_argument("file", type=Path)
    _who(p)
    p.set_defaults(func=cmd_lists_import)

    p = sub.add_parser("explain", help="a stored decision's reasons, recomputed")
    p.add_argument("event_id")
    p.set_defaults(func=cmd_explain)
