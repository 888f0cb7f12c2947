"""Rules compiled with CEL (Google's Common Expression Language, the `cel-expr-python`
runtime): typed against a family's rule fields, so a rule naming an unknown field,
comparing a count with a string or failing to parse is refused before it can go live,
with its line and column. No `eval`: CEL has no loops, no I/O and no way out of its
arguments. Pure: a document in, a compiled ruleset out; an event's inputs in, the rules that
fired out. docs/RULES.md says how to write rules and why this library (docs/BENCHMARKS.md).

Speed: the rules that read only fields every event has run as one CEL program (a list of
their results, one evaluation per request); a rule that reads a field that may be absent
runs on its own, so an absent value faults that rule alone."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from fraudit.contracts import RuleInput
from fraudit.families import ModelFamily
from fraudit.rules.document import PublishedList, PublishedRule, RulesetDocument, RulesetError
from fraudit.rules.fields import FieldType, RuleField, fields_of
from fraudit.rules.outcome import RuleFault, RuleHit

_CEL_TYPES = {
    FieldType.BOOL: cel.Type.BOOL,
    FieldType.INT: cel.Type.INT,
    FieldType.DOUBLE: cel.Type.DOUBLE,
    FieldType.STRING: cel.Type.STRING,
}
_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_STRING_LITERAL = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_IN_LIST_CALL = re.compile(r"\bin_list\s*\(\s*")
_LIST_NAME_ARGUMENT = re.compile(r"'([^'\\\n]*)'\s*,|\"([^\"\\\n]*)\"\s*,")
_ABSENT = re.compile(r'No value with name "([^"]+)"')
_MIXED_NUMBERS = (
    " (CEL does not mix int and double: counts are ints, write 5; amounts, probabilities and "
    "ratios are doubles, write 2.0)"
)
IN_LIST = "in_list"


@dataclass(frozen=True)
class CompileProblem:
    rule_id: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"rule {self.rule_id}, line {self.line}, column {self.column}: {self.message}"


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _cel_problems(rule_id: str, message: str) -> list[CompileProblem]:
    found = []
    for line, column, text in _CEL_ERROR.findall(message):
        if "no matching overload" in text and "int" in text and "double" in text:
            text += _MIXED_NUMBERS
        found.append(CompileProblem(rule_id, int(line), int(column), text))
    return found or [CompileProblem(rule_id, 1, 1, message.strip().splitlines()[0])]


def _list_problems(
    rule_id: str, expression: str, lists: Mapping[str, PublishedList]
) -> list[CompileProblem]:
    """in_list's first argument must name, in quotes, a list the document publishes: CEL's
    type checker sees only a string, so the name is checked here."""
    problems = []
    blanked = _STRING_LITERAL.sub(
        lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], expression
    )
    for call in _IN_LIST_CALL.finditer(blanked):
        argument = _LIST_NAME_ARGUMENT.match(expression, call.end())
        line, column = _position(expression, call.end())
        if argument is None:
            problems.append(
                CompileProblem(
                    rule_id,
                    line,
                    column,
                    "in_list's first argument must be a list's name in quotes",
                )
            )
            continue
        name = argument.group(1) if argument.group(1) is not None else argument.group(2)
        if name not in lists:
            known = ", ".join(sorted(lists)) or "none is published"
            problems.append(
                CompileProblem(rule_id, line, column, f"no list named {name!r} (lists: {known})")
            )
    return problems


def named_fields(expression: str, fields: Iterable[str]) -> tuple[str, ...]:
    """The rule fields an expression names (outside its string literals), in field order."""
    words = set(_IDENTIFIER.findall(_STRING_LITERAL.sub("''", expression)))
    return tuple(name for name in fields if name in words)


class _Lists:
    """in_list's implementation: membership in a published list, judged at the evaluated
    event's time (an entry past its expiry no longer counts)."""

    def __init__(self, lists: Sequence[PublishedList]) -> None:
        self._entries = {x.name: x.entries for x in lists}
        self._clock = threading.local()

    def at(self, when: float) -> None:
        self._clock.now = when

    def contains(self, name: str, value: str) -> bool:
        entries = self._entries.get(name)
        if entries is None or value not in entries:
            return False
        expires = entries[value]
        return expires is None or expires > self._clock.now


def _environment(fields: Sequence[RuleField], lists: _Lists) -> Any:
    string = cel.Type.STRING
    contains = cel.Overload(
        "in_list_string_string", cel.Type.BOOL, [string, string], impl=lists.contains
    )
    return cel.NewEnv(
        variables={f.name: _CEL_TYPES[f.type] for f in fields},
        functions=[cel.FunctionDecl(IN_LIST, [contains])],
    )


@dataclass(frozen=True)
class _Compiled:
    rule: PublishedRule
    program: Any
    names: tuple[str, ...]

    def hit(self, inputs: Mapping[str, RuleInput]) -> RuleHit:
        rule = self.rule
        return RuleHit(
            rule.rule_id,
            rule.version,
            rule.action,
            rule.priority,
            rule.reason,
            rule.shadow,
            {n: inputs[n] for n in self.names if n in inputs},
            rule.adjustment,
        )

    def fault(self, error: object) -> RuleFault:
        text = str(error)
        absent = _ABSENT.search(text)
        message = f"{absent.group(1)} is absent" if absent else text.splitlines()[0][:200]
        return RuleFault(self.rule.rule_id, self.rule.shadow, message)


def _result(value: Any, compiled: _Compiled) -> bool | RuleFault:
    if value.type() == cel.Type.ERROR:
        return compiled.fault(value.value())
    return bool(value.value())


class FamilyRules:
    """One family's published rules, compiled."""

    def __init__(self, family: ModelFamily, rules: Sequence[PublishedRule], lists: _Lists) -> None:
        self.fields = fields_of(family)
        self.lists = lists
        self._env = _environment(self.fields, lists)
        names = [f.name for f in self.fields]
        always = {f.name for f in self.fields if f.always}
        problems: list[CompileProblem] = []
        together: list[_Compiled] = []
        apart: list[_Compiled] = []
        for rule in sorted(rules, key=lambda r: (r.priority, r.rule_id)):
            program, found = compile_expression(self._env, rule.rule_id, rule.expression)
            problems += found
            if program is None:
                continue
            compiled = _Compiled(rule, program, named_fields(rule.expression, names))
            (together if set(compiled.names) <= always else apart).append(compiled)
        if problems:
            raise RulesetError(
                f"{len(problems)} problem(s) in family {family.name}'s rules: "
                + "; ".join(str(p) for p in problems),
                problems,
            )
        # The rules that never meet an absent value, and those that may: each group one
        # program ([rule1, rule2, ...]); the second runs whole when every value its rules
        # may lack is there, else rule by rule, so an absent value faults only its rules.
        self._groups = (
            _Group(self._env, tuple(together), frozenset()),
            _Group(
                self._env,
                tuple(apart),
                frozenset(n for c in apart for n in c.names if n not in always),
            ),
        )

    def __len__(self) -> int:
        return sum(len(g.rules) for g in self._groups)

    def evaluate(
        self, inputs: Mapping[str, RuleInput], at: float
    ) -> tuple[list[RuleHit], list[RuleFault]]:
        """The rules that fired on one event's inputs, and those that could not say."""
        self.lists.at(at)
        hits: list[RuleHit] = []
        faults: list[RuleFault] = []
        activation = self._env.Activation(dict(inputs))
        for group in self._groups:
            for compiled, result in zip(
                group.rules, group.results(activation, inputs), strict=True
            ):
                _record(compiled, result, inputs, hits, faults)
        return hits, faults


class _Group:
    """Rules evaluated as one CEL program, or one by one when that cannot say for all."""

    def __init__(self, env: Any, rules: tuple[_Compiled, ...], may_lack: frozenset[str]) -> None:
        self.rules = rules
        self.may_lack = may_lack
        joined = ",\n".join(f"({c.rule.expression})" for c in rules)
        self.program = env.compile(f"[{joined}]") if rules else None

    def results(self, activation: Any, inputs: Mapping[str, RuleInput]) -> list[bool | RuleFault]:
        if self.program is None:
            return []
        if self.may_lack <= inputs.keys():
            together = self.program.eval(activation)
            if together.type() != cel.Type.ERROR:
                return [bool(v) for v in together.plain_value()]
        # An absent value, or a run-time fault (a division by zero): each rule on its own.
        return [_result(c.program.eval(activation), c) for c in self.rules]


def _record(
    compiled: _Compiled,
    result: bool | RuleFault,
    inputs: Mapping[str, RuleInput],
    hits: list[RuleHit],
    faults: list[RuleFault],
) -> None:
    if isinstance(result, RuleFault):
        faults.append(result)
    elif result:
        hits.append(compiled.hit(inputs))


def compile_expression(env: Any, rule_id: str, expression: str) -> tuple[Any, list[CompileProblem]]:
    """A rule's program, or the problems that refuse it (line and column in the rule)."""
    try:
        program = env.compile(expression)
    except RuntimeError as exc:
        return None, _cel_problems(rule_id, str(exc))
    if program.return_type() != cel.Type.BOOL:
        kind = program.return_type().name().lower()
        return None, [
            CompileProblem(rule_id, 1, 1, f"a rule must be true or false; this gives {kind}")
        ]
    return program, []


class CompiledRuleset:
    """A ruleset document, compiled for every family it has rules for."""

    def __init__(self, document: RulesetDocument, families: Sequence[ModelFamily]) -> None:
        self.document = document
        lists = {x.name: x for x in document.lists}
        known = {f.name for f in families}
        strangers = sorted({r.family for r in document.rules} - known)
        if strangers:
            raise RulesetError(f"rules for unknown families {strangers}; known: {sorted(known)}")
        problems = [
            p for r in document.rules for p in _list_problems(r.rule_id, r.expression, lists)
        ]
        if problems:
            raise RulesetError("; ".join(str(p) for p in problems), problems)
        shared = _Lists(document.lists)
        self._families = {
            f.name: FamilyRules(f, [r for r in document.rules if r.family == f.name], shared)
            for f in families
        }

    @property
    def version(self) -> str:
        return self.document.version

    def list_versions(self) -> dict[str, int]:
        return self.document.list_versions()

    def for_family(self, family: ModelFamily) -> FamilyRules:
        return self._families[family.name]


def check_rule(
    rule: PublishedRule, family: ModelFamily, lists: Sequence[PublishedList]
) -> list[CompileProblem]:
    """Why a rule could not go live beside `lists` (empty: it compiles)."""
    problems = _list_problems(rule.rule_id, rule.expression, {x.name: x for x in lists})
    env = _environment(fields_of(family), _Lists(lists))
    _, found = compile_expression(env, rule.rule_id, rule.expression)
    return problems + found
