"""Importing Sparkov card-transaction files (fraudTrain.csv / fraudTest.csv and samples of
them) so that no card number is ever kept.

Sparkov's `cc_num` values pass the Luhn check: they look like card numbers, and a card
product must treat them as such. On import each one becomes a keyed token (HMAC-SHA256),
the same for the same card across every file imported with the same key, and the columns a
card product never needs (the cardholder's name and street, the transaction number) are
dropped. Everything the features use is kept: time, card token, merchant, category, amount,
gender (for fairness reports only), city, state, zip, home and merchant coordinates, city
population, job, date of birth, unix time and the label.

Pure standard library: the file is streamed row by row, whatever its size.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import hmac
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CARD_COLUMN = "cc_num"
DROPPED_COLUMNS: frozenset[str] = frozenset({"first", "last", "street", "trans_num"})
TOKEN_PREFIX = "card_"  # noqa: S105 - a label for tokens, not a secret
# 16 base32 letters, 80 bits: no collision expected among millions of cards. Not hex: a hex
# digest holds long runs of decimal digits, some of which pass the Luhn check.
TOKEN_LETTERS = 16
MIN_KEY_BYTES = 16


class SparkovImportError(ValueError):
    """The file is not a Sparkov transaction file, or the key is unusable."""


def card_token(card_number: str, key: bytes) -> str:
    """A stable, keyed stand-in for a card number: without the key it cannot be reversed
    by trying every number of a card range."""
    digest = hmac.new(key, card_number.strip().encode("ascii"), hashlib.sha256).digest()
    return TOKEN_PREFIX + base64.b32encode(digest).decode("ascii")[:TOKEN_LETTERS].lower()


def kept_columns(header: list[str]) -> list[str]:
    """The header as imported: the dropped columns left out, order kept."""
    if CARD_COLUMN not in header:
        raise SparkovImportError(
            f"no {CARD_COLUMN!r} column: not a Sparkov transaction file "
            f"(columns: {', '.join(header[:8])}, ...)"
        )
    return [name for name in header if name not in DROPPED_COLUMNS]


def tokenize_rows(rows: Iterator[list[str]], key: bytes) -> Iterator[list[str]]:
    """Header first, then every row with the card number replaced and the dropped columns
    left out."""
    if len(key) < MIN_KEY_BYTES:
        raise SparkovImportError(f"the token key must be at least {MIN_KEY_BYTES} bytes")
    header = next(rows, None)
    if header is None:
        raise SparkovImportError("the file is empty")
    kept = kept_columns(header)
    positions = [header.index(name) for name in kept]
    card = kept.index(CARD_COLUMN)
    yield kept
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise SparkovImportError(
                f"line {line}: {len(row)} fields, the header has {len(header)}"
            )
        out = [row[i] for i in positions]
        out[card] = card_token(out[card], key)
        yield out


@contextmanager
def _open(path: Path, mode: str, gzipped: bool) -> Iterator[IO[str]]:
    if gzipped:
        # mtime 0: the same rows give the same bytes.
        raw = gzip.GzipFile(path, mode + "b", compresslevel=9, mtime=0)
        with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            yield text
    else:
        with open(path, mode, encoding="utf-8", newline="") as text:
            yield text


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    cards: int
    columns: tuple[str, ...]


def import_file(
    source: Path, target: Path, key: bytes, progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Copy a Sparkov CSV (plain or .gz) to `target` (.gz compresses) with card tokens."""
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    cards: set[str] = set()
    partial = target.with_name(f".{target.name}.partial")
    try:
        with (
            _open(source, "r", source.suffix == ".gz") as inp,
            _open(partial, "w", target.suffix == ".gz") as out,
        ):
            writer = csv.writer(out, lineterminator="\n")
            tokenized = tokenize_rows(csv.reader(inp), key)
            header = next(tokenized)
            writer.writerow(header)
            card = header.index(CARD_COLUMN)
            for row in tokenized:
                writer.writerow(row)
                cards.add(row[card])
                rows += 1
                if progress is not None and rows % 100_000 == 0:
                    progress(rows)
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed import leaves nothing behind
        raise
    partial.replace(target)  # a half-written import never looks complete
    return ImportSummary(rows, len(cards), tuple(header))
