"""Recognising card numbers (PANs), so that none is ever stored: the Luhn check and a scan
of text for digit runs that pass it. Pure."""

from __future__ import annotations

import re

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
# A run of 13-19 digits that is not part of a longer number, a decimal fraction or a word
# (a hexadecimal digest), with the spaces or dashes people and exports put between groups.
_CANDIDATE = re.compile(r"(?<![A-Za-z\d.])\d(?:[ -]?\d){12,18}(?![A-Za-z\d]|\.\d)")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_pan(text: str) -> bool:
    """13-19 digits (spaces and dashes between them ignored) that pass the Luhn check."""
    digits = re.sub(r"[ -]", "", text)
    return MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS and luhn_valid(digits)


def find_pans(text: str) -> list[str]:
    """Every card-number-like run in `text`, as it appears there."""
    return [m.group(0) for m in _CANDIDATE.finditer(text) if looks_like_pan(m.group(0))]
