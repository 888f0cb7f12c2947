"""The indicator rules file: what it accepts, what it refuses, and the SQL it turns into."""

from __future__ import annotations

import re

import pytest

from fraudit.stream.indicators import (
    ENTITIES,
    alert_statement,
    load_rules,
    parse_duration,
    parse_rules,
)

pytestmark = pytest.mark.unit

ONE_RULE = """
[[rule]]
name = "r"
group_by = "user_id"
aggregate = "sum"
field = "amount"
window = "5 minutes"
threshold = 10
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5 minutes", 300),
        ("15m", 900),
        ("1 hour", 3600),
        ("90s", 90),
        ("10 min", 600),
        ("2 hours", 7200),
        (45, 45),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "five minutes", "5 fortnights", "0 s", "-3m", "5.5m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_the_shipped_rules_cover_the_four_required_indicators():
    rules = {r.name: r for r in load_rules().rules}
    amount, count = rules["user_amount_5m"], rules["user_count_15m"]
    assert (amount.group_by, amount.aggregate, amount.field, amount.window_seconds) == (
        "user_id",
        "sum",
        "amount",
        300,
    )
    assert (count.group_by, count.aggregate, count.window_seconds) == ("user_id", "count", 900)
    for name, entity in (
        ("ip_shared_users_10m", "ip_address"),
        ("device_shared_users_10m", "device_id"),
    ):
        rule = rules[name]
        assert (rule.group_by, rule.aggregate, rule.field, rule.window_seconds) == (
            entity,
            "count_distinct",
            "user_id",
            600,
        )
    ruleset = load_rules()
    assert (ruleset.allowed_lateness_seconds, ruleset.max_clock_skew_seconds) == (600, 300)


def test_a_rules_file_on_disk_overrides_the_defaults(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(ONE_RULE.replace("threshold = 10", "threshold = 12.5"))
    (rule,) = load_rules(path).rules
    assert rule.threshold == 12.5
    assert rule.slide == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('aggregate = "sum"', 'aggregate = "median"'), "aggregate"),
        (('field = "amount"', 'field = "payload"'), "field among"),
        (('group_by = "user_id"', 'group_by = "country"'), "group_by"),
        (
            (
                'aggregate = "sum"\nfield = "amount"',
                'aggregate = "count_distinct"\nfield = "user_id"',
            ),
            "other than group_by",
        ),
        (
            ('aggregate = "sum"\nfield = "amount"', 'aggregate = "count"\nfield = "amount"'),
            "count takes no field",
        ),
        (('window = "5 minutes"', 'window = "5 minutes"\nslide = "2 minutes"'), "divide"),
        (('name = "r"', 'name = "Robert\'); DROP TABLE x; --"'), "name"),
        (("threshold = 10", 'threshold = 10\ncolour = "red"'), "colour"),
        (("threshold = 10", 'threshold = "ten"'), "threshold"),
        (('window = "5 minutes"', 'window = "5 parsecs"'), "duration"),
        (("[[rule]]", "[[rule"), "rules"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(ONE_RULE.replace(*change))


def test_duplicate_rule_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        parse_rules(ONE_RULE + ONE_RULE)


def test_statements_name_only_known_columns_and_carry_values_as_parameters():
    for rule in load_rules().rules:
        statement = alert_statement(rule, None)
        assert rule.group_by in ENTITIES
        assert str(rule.threshold) not in statement.sql  # values travel as parameters
        assert statement.params["threshold"] == rule.threshold
        assert statement.params["hops"] * statement.params["slide"] == rule.window_seconds
        referenced = set(re.findall(r"\bp\.(\w+)", statement.sql))
        assert referenced <= {"user_id", "ip_address", "device_id", "event_time", "amount"}
