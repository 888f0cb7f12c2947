"""Rules and lists in the real PostgreSQL: immutable versions, maker and checker, list
imports that are all or nothing, publication; and a running API (two worker processes)
that serves an edit within its refresh interval, without a restart."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import requests

from fraudit.db.schema import apply_schema
from fraudit.rules.document import RulesetDocument, RuleState
from fraudit.rules.source import writer_of
from fraudit.rules.store import ListEntry, RuleChangeRefused, RuleStore, read_entries
from tests.integration.conftest import RULESET_REFRESH_SECONDS
from tests.support.api import JSON, payload

pytestmark = pytest.mark.integration


@pytest.fixture
def store(database):
    conn = psycopg.connect(database, autocommit=True)
    apply_schema(conn)
    yield RuleStore(conn)
    conn.close()


def burst(store: RuleStore, author: str = "ana", expression: str = "card_count_10m >= 5"):
    return store.create(
        rule_id="card_testing",
        family_name="cards",
        action="decline",
        expression=expression,
        reason="card-testing burst",
        author=author,
        why="seen in last week's chargebacks",
    )


def test_a_rule_goes_live_only_with_a_second_name_and_every_change_is_kept(store):
    first = burst(store)
    assert (first.version, first.state) == (1, "draft")
    with pytest.raises(RuleChangeRefused, match="line 1, column 16"):
        burst(store, expression="card_count_10m >= 'five'")
    store.promote("card_testing", RuleState.SHADOW, actor="ana", why="try it on live traffic")
    with pytest.raises(RuleChangeRefused, match="needs a second person"):
        store.promote("card_testing", RuleState.LIVE, actor="ana", why="go")
    with pytest.raises(RuleChangeRefused, match="someone else than the rule's author"):
        store.promote("card_testing", RuleState.LIVE, actor="bo", approver="ana", why="go")
    live = store.promote("card_testing", RuleState.LIVE, actor="ana", approver="bo", why="go")
    assert live.state == "live"
    second = burst(store, expression="card_count_10m >= 6")  # an edit is a new version
    assert (second.version, second.state) == (2, "draft")
    store.promote("card_testing", RuleState.LIVE, actor="bo", approver="cy", why="stricter")
    states = {v.version: v.state for v in store.versions("card_testing")}
    assert states == {1: "retired", 2: "live"}  # the old version was superseded
    trail = store.conn.execute(
        "SELECT version, state, changed_by, approved_by, why FROM fraud_rule_changes"
        " ORDER BY change_id"
    ).fetchall()
    assert trail == [
        (1, "draft", "ana", None, "seen in last week's chargebacks"),
        (1, "shadow", "ana", None, "try it on live traffic"),
        (1, "live", "ana", "bo", "go"),
        (2, "draft", "ana", None, "seen in last week's chargebacks"),
        (1, "retired", "bo", None, "superseded by v2"),
        (2, "live", "bo", "cy", "stricter"),
    ]
    # The database refuses a live change without a distinct approver, whoever writes it.
    with pytest.raises(psycopg.errors.CheckViolation):
        store.conn.execute(
            "INSERT INTO fraud_rule_changes (rule_id, version, state, changed_by, approved_by,"
            " why) VALUES ('card_testing', 2, 'live', 'ana', 'ana', 'x')"
        )


def test_a_list_import_is_all_or_nothing_and_names_the_bad_line(store, tmp_path):
    store.create_list("blocked_cards", "card", actor="ana", why="confirmed compromised")
    good = "value,expires_at,note\ntok_a,,stolen\ntok_b,2030-01-01T00:00:00+00:00,\n"
    version = store.add_entries(
        "blocked_cards", read_entries(good, store.kind_of("blocked_cards")), actor="ana", why="x"
    )
    bad = "value,expires_at\ntok_c,\ntok_d,next tuesday\n"
    with pytest.raises(RuleChangeRefused, match="line 3, column expires_at"):
        read_entries(bad, store.kind_of("blocked_cards"))
    with pytest.raises(RuleChangeRefused, match="line 2, column value"):
        read_entries("value\n4111 1111 1111 1111\n", store.kind_of("blocked_cards"))
    (published,) = store.published_lists()
    assert published.version == version == 1
    assert set(published.entries) == {"tok_a", "tok_b"}
    assert published.entries["tok_a"] is None
    removed = store.remove_entries("blocked_cards", ["tok_a"], actor="bo", why="card reissued")
    (published,) = store.published_lists()
    assert (published.version, set(published.entries)) == (removed, {"tok_b"})
    with pytest.raises(RuleChangeRefused, match="not in blocked_cards"):
        store.remove_entries("blocked_cards", ["tok_zz"], actor="bo", why="x")
    store.add_entries("blocked_cards", [ListEntry("tok_a")], actor="ana", why="again")
    assert set(store.published_lists()[0].entries) == {"tok_a", "tok_b"}


def test_a_rule_naming_an_unknown_list_is_refused_until_the_list_exists(store):
    with pytest.raises(RuleChangeRefused, match="no list named 'vip'"):
        burst(store, expression="in_list('vip', card_token)")
    store.create_list("vip", "card", actor="ana", why="x")
    assert burst(store, expression="in_list('vip', card_token)").version == 1


def test_a_published_edit_is_served_within_the_refresh_interval_without_a_restart(
    store, api_server, ruleset_file
):
    user = "rules-refresh-user"
    store.create(
        rule_id="refresh_check",
        family_name="ulb",
        action="decline",
        expression=f"user_id == '{user}'",
        reason="a test rule",
        author="ana",
        why="prove the refresh",
    )
    store.promote("refresh_check", RuleState.LIVE, actor="ana", approver="bo", why="go")
    published_at = time.monotonic()
    document = store.publish(writer_of(str(ruleset_file), lambda: None), "test", actor="ana")
    assert isinstance(document, RulesetDocument)

    def answer(i: int) -> dict:
        response = requests.post(
            f"{api_server}/predict",
            json=payload(i, user_id=user, transaction_id=f"tx_{uuid.uuid4().hex}"),
            headers=JSON,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    # Within the interval (and a second of slack), every worker serves the new version.
    time.sleep(RULESET_REFRESH_SECONDS + 1)
    answers = [answer(i) for i in range(8)]
    assert time.monotonic() - published_at < RULESET_REFRESH_SECONDS + 5
    for given in answers:
        assert given["rules"]["ruleset_version"] == document.version
        assert given["decision"] == "decline"
        assert given["rules"]["decided_by"] == "refresh_check"
        assert given["rules"]["fired"][0]["values"] == {"user_id": user}
        assert given["reasons"]["model"] is not None  # a decline carries its reasons
    store.retire("refresh_check", actor="ana", why="done")
    after = store.publish(writer_of(str(ruleset_file), lambda: None), "test", actor="ana")
    time.sleep(RULESET_REFRESH_SECONDS + 1)
    for given in [answer(i) for i in range(8)]:
        assert given["rules"]["ruleset_version"] == after.version
        assert given["rules"]["fired"] == []
