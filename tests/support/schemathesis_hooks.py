"""Loaded by the schemathesis CLI (SCHEMATHESIS_HOOKS) in the API fuzz runs: what the two
rules the OpenAPI document can only name mean, so the positive-data check holds the API to
everything else. The unit tests cover values outside them.

- date-time: JSON Schema cannot state a window relative to the API's clock (at most 5
  minutes ahead, at most the max event age behind). Times are drawn inside it, with any
  UTC offset.
- not-a-card-number: the identifier pattern, less what the Luhn rule refuses.
- date (a card transaction's date_of_birth): the contract refuses a birth after the
  transaction or more than 130 years before it, a rule between two fields. Dates are drawn
  between 100 years and 10 days before today, which any drawn date-time satisfies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

from fraudit.validity import (
    DEFAULT_MAX_EVENT_AGE,
    ID_PATTERN,
    MAX_CLOCK_SKEW,
    NOT_A_CARD_NUMBER_FORMAT,
    identifier_problem,
)

# A margin on each side for the time between drawing a case and the API reading it.
_MARGIN = timedelta(minutes=2)

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def recent_times(draw: st.DrawFn) -> str:
    now = datetime.now(UTC)
    earliest = now - DEFAULT_MAX_EVENT_AGE + _MARGIN
    latest = now + MAX_CLOCK_SKEW - _MARGIN
    span = int((latest - earliest).total_seconds() * 1e6)
    moment = earliest + timedelta(microseconds=draw(st.integers(0, span)))
    offset = draw(_offsets | st.just(UTC))
    return moment.astimezone(offset).isoformat()


@st.composite
def birth_dates(draw: st.DrawFn) -> str:
    today = datetime.now(UTC).date()
    days = draw(st.integers(10, 100 * 365))
    return (today - timedelta(days=days)).isoformat()


schemathesis.openapi.format("date-time", recent_times())
schemathesis.openapi.format("date", birth_dates())
schemathesis.openapi.format(
    NOT_A_CARD_NUMBER_FORMAT,
    st.from_regex(ID_PATTERN).filter(lambda value: identifier_problem(value) is None),
)
