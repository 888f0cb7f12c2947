"""The one validity rule: what a transaction may hold, from the API to the table.

The pydantic contracts (fraudit.contracts) and the stream job's validation
(fraudit.stream.transform) both read these bounds and formats, so an event the API accepted
is never quarantined downstream. The quarantine table keeps what only the stream can see:
corrupt records, foreign producers, schema drift. Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from ipaddress import ip_address

from fraudit.card_numbers import looks_like_pan

# Identifiers (transaction_id, user_id, device_id): ASCII letters, digits and a few
# separators; the first character alphanumeric.
ID_MAX_LENGTH = 128
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:@-]{{0,{ID_MAX_LENGTH - 1}}}$"
# The OpenAPI format naming the rule of identifiers that must never hold a card number
# (identifier_problem): the Luhn check has no practical regular expression.
NOT_A_CARD_NUMBER_FORMAT = "not-a-card-number"
# Free text (source, device fields, region, city), in characters.
SHORT_TEXT_MAX_LENGTH = 64
PLACE_TEXT_MAX_LENGTH = 128
# What the stream accepts for text we write ourselves (versions, event ids).
STREAM_TEXT_MAX_LENGTH = 256
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"

# Control characters (Unicode category Cc): a NUL ends a C string and PostgreSQL refuses it
# in text; the others break logs, CSV exports and the dashboard. Surrogates (Cs) cannot be
# encoded as UTF-8 at all.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARACTERS)
# The same rule as the pattern the OpenAPI document states for free text (ECMA-262 syntax:
# its `$` is the end of the text; in Python, compare with re.fullmatch).
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Amounts, in the card's currency: far beyond any card payment, and below what the table's
# numeric(14, 2) holds once rounded to cents.
MAX_AMOUNT = 1e11
# A card amount is 0 (an account check) or at least one cent. Smaller positive amounts are
# no payment; 5e-324 made the card's next amount-to-mean ratio infinite (docs/FEATURES.md).
# With this floor and MAX_AMOUNT every card feature is finite by construction.
MIN_POSITIVE_AMOUNT = 0.01
# Every model input (Time, V1..V28, Amount) is a finite number of at most this magnitude:
# the real features lie within a few hundred; past ~1e154 the anomaly detector's squared
# distance overflows to infinity.
MAX_FEATURE_MAGNITUDE = 1e9
LATITUDE_LIMIT = 90.0
LONGITUDE_LIMIT = 180.0

# An IPv4 address in dotted decimal, and the characters of a normalised IPv6 address (no
# zone id: `fe80::1%eth0` names an interface of the sender's machine, not an address).
IPV4_PATTERN = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
IPV6_PATTERN = r"^[0-9A-Fa-f:.]{2,45}$"

# Event time against the time the API scored it. Ahead: clocks drift, by minutes. Behind:
# a live transaction is seconds old; replays of history raise the API's limit
# (FRAUDIT_MAX_EVENT_AGE_DAYS) up to MAX_EVENT_AGE_LIMIT, which is what the stream allows,
# so a stream catching up after an outage rejects nothing the API accepted.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# RFC 3339, what JSON Schema's date-time format means: the UTC offset is required (a time
# without one names no instant), numbers and other ISO 8601 spellings are refused.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339_PATTERN)
DEFAULT_MAX_EVENT_AGE = timedelta(days=7)
MAX_EVENT_AGE_LIMIT = timedelta(days=366 * 30)


def timestamp_text_problem(value: object) -> str | None:
    """Why a timestamp as sent is refused before it is parsed, or None."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-12-02T14:05:09Z"
    return None


def text_problem(value: str) -> str | None:
    """Why free text is refused, or None."""
    if _CONTROL.search(value):
        return "must not contain control characters (NUL, newlines, tabs, ...)"
    if _SURROGATE.search(value):
        return "must not contain unpaired UTF-16 surrogates"
    return None


def identifier_problem(value: str) -> str | None:
    """Why an identifier that must not be a card number is refused, or None."""
    if looks_like_pan(value):
        return (
            "looks like a card number (13-19 digits passing the Luhn check); "
            "send a token or an internal id instead, never the card number"
        )
    return None


def normalise_ip(value: str) -> str:
    """The address in its normal form; ValueError if it is none (or has a zone id). An
    IPv4-mapped IPv6 address (`::ffff:203.0.113.10`, what a dual-stack socket reports for an
    IPv4 client) is the IPv4 address: one client, one online-store key."""
    if "%" in value:
        raise ValueError("must be an IPv4 or IPv6 address without a zone id (%...)")
    try:
        address = ip_address(value)
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def event_time_problem(event_time: datetime, scored_at: datetime, max_age: timedelta) -> str | None:
    """Why a transaction's time is refused when scored at `scored_at`, or None."""
    if event_time > scored_at + MAX_CLOCK_SKEW:
        return (
            f"is more than {MAX_CLOCK_SKEW.total_seconds() / 60:g} minutes ahead of the "
            "server's clock"
        )
    if event_time < scored_at - max_age:
        return (
            f"is more than {max_age.total_seconds() / 86400:g} days old "
            "(replays of history raise FRAUDIT_MAX_EVENT_AGE_DAYS)"
        )
    return None


def card_amount_problem(value: float) -> str | None:
    """Why a card transaction's amount is refused, or None."""
    if 0 < value < MIN_POSITIVE_AMOUNT:
        return f"must be 0 or at least {MIN_POSITIVE_AMOUNT:g} (one cent)"
    return None


def feature_problem(value: float) -> str | None:
    if not -MAX_FEATURE_MAGNITUDE <= value <= MAX_FEATURE_MAGNITUDE:
        return f"{value:g} is outside [-{MAX_FEATURE_MAGNITUDE:g}, {MAX_FEATURE_MAGNITUDE:g}]"
    return None
