"""Rules compiled with CEL (Google's Common Expression Language, the `cel-expr-python`
runtime): typed against a family's rule fields, so a rule naming an unknown field,
comparing a count with a string or failing to parse is refused before it can go live,
with its line and column. No `eval`: CEL has no loops, no I/O and no way out of its
arguments. Pure: a document in, a compiled ruleset out; an event's inputs in, the rules that
fired out. docs/RULES.md says how to write rules and why this library (docs/BENCHMARKS.md).

Speed: per request, the rules whose values are all there run as one CEL program (a list
of their results); a rule that reads an absent value runs on its own, so the absence faults
that rule alone (`FamilyRules`)."""

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


# What in CEL can turn an error into a value: the logical operators, the conditional and
# the macros (has, all, exists, exists_one, map, filter).
_ABSORBING = re.compile(r"&&|\|\||\?|\b(?:has|all|exists|exists_one|map|filter)\s*\(")


def strict(expression: str) -> bool:
    """Whether every error inside `expression` is its result's error (no construct of it
    absorbs one), judged outside its string literals."""
    return _ABSORBING.search(_STRING_LITERAL.sub("''", expression)) is None


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
    may_lack: frozenset[str]  # the fields it names that an event may not have
    # No construct of it can absorb an error (CEL's &&, ||, ?: and macros can; every
    # operator and function is strict): an absent value it reads makes it fault, for sure.
    strict: bool

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
        message = str(error).splitlines()[0][:200]
        return RuleFault(self.rule.rule_id, self.rule.shadow, message)


_ERROR = cel.Type.ERROR


def _result(
    value: Any, compiled: _Compiled, missing: frozenset[str] = frozenset()
) -> bool | RuleFault:
    """A rule's own result: an error because a value it reads is absent means it does not
    fire (docs/RULES.md, "Missing values"); any other error is a fault, recorded."""
    if value.type() != _ERROR:
        return bool(value.value())
    if compiled.may_lack & missing:
        return False
    return compiled.fault(value.value())


# Programs kept per family for the sets of absent values met (each a few milliseconds to
# compile; in practice a handful of sets: no device, no IP, no previous transaction).
MAX_PLANS = 64


class FamilyRules:
    """One family's published rules, compiled.

    Per request, every rule whose values are all there runs in one CEL program (a list of
    the rules' results); a rule that reads an absent value runs on its own, so the absence
    faults that rule alone (CEL's && and || may still decide it). The program for each set of
    absent values is compiled once, when first met. Only the fields some rule names are
    handed to CEL."""

    def __init__(self, family: ModelFamily, rules: Sequence[PublishedRule], lists: _Lists) -> None:
        self.fields = fields_of(family)
        self.lists = lists
        self._env = _environment(self.fields, lists)
        names = [f.name for f in self.fields]
        always = {f.name for f in self.fields if f.always}
        problems: list[CompileProblem] = []
        compiled: list[_Compiled] = []
        for rule in sorted(rules, key=lambda r: (r.priority, r.rule_id)):
            program, found = compile_expression(self._env, rule.rule_id, rule.expression)
            problems += found
            if program is not None:
                named = named_fields(rule.expression, names)
                lacking = frozenset(n for n in named if n not in always)
                compiled.append(_Compiled(rule, program, named, lacking, strict(rule.expression)))
        if problems:
            raise RulesetError(
                f"{len(problems)} problem(s) in family {family.name}'s rules: "
                + "; ".join(str(p) for p in problems),
                problems,
            )
        self._rules = tuple(compiled)
        self.used = frozenset(n for c in compiled for n in c.names)
        self._may_lack = frozenset(n for c in compiled for n in c.may_lack)
        self._order = {c.rule.rule_id: i for i, c in enumerate(compiled)}  # priority order
        self._plans: dict[frozenset[str], _Plan] = {}
        self._plan(frozenset())  # the usual case, compiled with the ruleset

    def __len__(self) -> int:
        return len(self._rules)

    def _plan(self, missing: frozenset[str]) -> _Plan:
        plan = self._plans.get(missing)
        if plan is None:
            plan = _Plan(
                self._env,
                tuple(c for c in self._rules if not c.may_lack & missing),
                tuple(c for c in self._rules if c.may_lack & missing),
                missing,
            )
            if len(self._plans) < MAX_PLANS:
                self._plans[missing] = plan
        return plan

    def evaluate(
        self, inputs: Mapping[str, RuleInput], at: float
    ) -> tuple[list[RuleHit], list[RuleFault]]:
        """The rules that fired on one event's inputs, and those that could not say."""
        self.lists.at(at)
        data = {name: inputs[name] for name in self.used if name in inputs}
        plan = self._plan(self._may_lack.difference(data))
        hits: list[RuleHit] = []
        faults: list[RuleFault] = []
        for compiled, result in plan.results(self._env.Activation(data)):
            if result is True:
                hits.append(compiled.hit(inputs))
            elif result is not False:
                faults.append(result)
        order = self._order
        hits.sort(key=lambda h: order[h.rule_id])
        faults.sort(key=lambda f: order[f.rule_id])
        return hits, faults


class _Plan:
    """The rules whose values are all there as one program, the others one by one."""

    def __init__(
        self,
        env: Any,
        together: tuple[_Compiled, ...],
        alone: tuple[_Compiled, ...],
        missing: frozenset[str],
    ) -> None:
        self.together = together
        self.alone = alone
        self.missing = missing
        joined = ",\n".join(f"({c.rule.expression})" for c in together)
        self.program = env.compile(f"[{joined}]") if together else None

    def results(self, activation: Any) -> list[tuple[_Compiled, bool | RuleFault]]:
        out: list[tuple[_Compiled, bool | RuleFault]] = []
        if self.program is not None:
            value = self.program.eval(activation)
            if value.type() == _ERROR:
                # A run-time fault in one of them (a division by zero): each on its own.
                out += [(c, _result(c.program.eval(activation), c)) for c in self.together]
            else:
                out += zip(self.together, map(bool, value.plain_value()), strict=True)
        for c in self.alone:
            if c.strict:  # it reads an absent value and cannot absorb the error: it cannot fire
                out.append((c, False))
            else:
                out.append((c, _result(c.program.eval(activation), c, self.missing)))
        return out


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
