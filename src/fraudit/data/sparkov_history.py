"""A Sparkov-format file (Kaggle's fraudTrain.csv / fraudTest.csv, or any file with their
columns) -> a labelled card history: the columns `fraudit generate-cards` writes, which the
feature backfill, `fraudit train --dataset cards` and `fraudit evaluate --dataset cards`
read (docs/FEATURES.md, "Your own labelled history").

Card numbers become keyed tokens (`fraudit.data.sparkov.card_token`) before anything is
written; a value that is already a token (`card_` and 16 base32 letters, as in the committed
samples) is kept. No card number, name or street reaches the output.

What Sparkov does not carry: a device and an IP address (left empty: those features are
missing, as for a card-present purchase), a fraud scenario (`fraud` for every fraud) and the
date the fraud was reported. Without a `chargeback_time` column a fraud is taken as known
from its own event time: the file's label is trusted as of the import, so an as-of figure
computed on it assumes labels arrive at once.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fraudit.data.card_simulation import COLUMNS, GENUINE, write_history
from fraudit.data.sparkov import MIN_KEY_BYTES, SparkovImportError, card_token
from fraudit.features.definitions import CATEGORIES
from fraudit.validity import MAX_AMOUNT, MIN_POSITIVE_AMOUNT, card_amount_problem

# The Sparkov columns the history needs; `trans_num` (the file's transaction id) and a
# `chargeback_time` (Unix seconds) are used when present.
NEEDED = ("trans_date_trans_time", "cc_num", "merchant", "category", "amt", "gender", "lat",
          "long", "city_pop", "dob", "merch_lat", "merch_long", "is_fraud")  # fmt: skip
SPARKOV_FRAUD = "fraud"
_TOKEN = re.compile(r"card_[a-z2-7]{16}")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class HistoryImport:
    rows: int
    frauds: int
    cards: int
    first: datetime
    last: datetime
    tokenised: int  # cards whose number was replaced here (the rest came as tokens)


def _bad(line: int, column: str, problem: str) -> SparkovImportError:
    return SparkovImportError(f"line {line}, column {column}: {problem}")


def _read(source: Path) -> pd.DataFrame:
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            frame = pd.read_csv(text, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise SparkovImportError(f"{source}: not a CSV file ({exc})") from None
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise SparkovImportError(
            f"{source}: not a Sparkov-format file (no column {', '.join(missing)})"
        )
    if frame.empty:
        raise SparkovImportError(f"{source}: no rows")
    return frame


def _numbers(frame: pd.DataFrame, column: str, *, integer: bool = False) -> pd.Series:
    """The column as numbers; the first value that is not one (or not finite) is reported
    with its line (the header is line 1)."""
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce").astype("float64")
    bad = ~np.isfinite(values)  # NaN (not a number) included
    if integer:
        bad |= values != values.round()
    if bad.any():
        line = _first(bad)
        raise _bad(line, column, f"{frame[column].iloc[line - 2]!r} is not a number")
    return values.astype("int64") if integer else values


def _times(frame: pd.DataFrame, column: str, fmt: str) -> pd.Series:
    parsed = pd.to_datetime(frame[column].str.strip(), format=fmt, errors="coerce", utc=True)
    if parsed.isna().any():
        line = _first(parsed.isna())
        raise _bad(line, column, f"{frame[column].iloc[line - 2]!r} is not {fmt}")
    return parsed


def _first(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax()) + 2


def _cards(frame: pd.DataFrame, key: bytes | None) -> tuple[pd.Series, int]:
    numbers = frame["cc_num"].str.strip()
    unique = numbers.unique()
    raw = [n for n in unique if not _TOKEN.fullmatch(n)]
    if raw and (key is None or len(key) < MIN_KEY_BYTES):
        raise SparkovImportError(
            f"the file holds card numbers: set FRAUDIT_CARD_TOKEN_KEY to a secret of at least "
            f"{MIN_KEY_BYTES} bytes (the same key gives the same token across files)"
        )
    empty = numbers == ""
    if empty.any():
        raise _bad(_first(empty), "cc_num", "empty")
    tokens = {n: n for n in unique} | {n: card_token(n, key) for n in raw if key}
    return numbers.map(tokens), len(raw)


def sparkov_history(
    frame: pd.DataFrame, key: bytes | None, source: str = ""
) -> tuple[pd.DataFrame, int]:
    """The history (card_simulation.COLUMNS) of a Sparkov frame read as text, in event-time
    order (file order within a second), and how many cards came as numbers and were
    tokenised here. Raises SparkovImportError at the first bad value, naming its line and
    column."""
    when = _times(frame, "trans_date_trans_time", "%Y-%m-%d %H:%M:%S")
    born = _times(frame, "dob", "%Y-%m-%d")
    amount = _numbers(frame, "amt")
    # The contract's rule decides; only amounts under a cent or over the limit can fail it.
    suspects = amount[(amount < MIN_POSITIVE_AMOUNT) | (amount > MAX_AMOUNT)]
    for row, value in suspects.items():
        problem = card_amount_problem(float(value)) or (
            "negative" if value < 0 else f"above {MAX_AMOUNT:g}" if value > MAX_AMOUNT else None
        )
        if problem:
            raise _bad(int(row) + 2, "amt", f"{value!r}: {problem}")
    unknown = ~frame["category"].isin(CATEGORIES)
    if unknown.any():
        raise _bad(_first(unknown), "category", f"unknown {frame['category'][unknown].iloc[0]!r}")
    label = frame["is_fraud"].str.strip()
    not_label = ~label.isin(("0", "1"))
    if not_label.any():
        raise _bad(_first(not_label), "is_fraud", f"{label[not_label].iloc[0]!r} is not 0 or 1")
    coordinates = {c: _numbers(frame, c) for c in ("lat", "long", "merch_lat", "merch_long")}
    for name, limit in (("lat", 90), ("merch_lat", 90), ("long", 180), ("merch_long", 180)):
        outside = coordinates[name].abs() > limit
        if outside.any():
            raise _bad(_first(outside), name, f"outside [-{limit}, {limit}]")
    cards, tokenised = _cards(frame, key)
    is_fraud = label == "1"
    chargeback: pd.Series = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    if "chargeback_time" in frame.columns:
        given = frame["chargeback_time"].str.strip()
        chargeback = pd.to_numeric(given.where(given != ""), errors="coerce").astype("Int64")
    ids = frame["trans_num"] if "trans_num" in frame.columns else None
    if ids is None or (ids.str.strip() == "").any() or ids.duplicated().any():
        ids = pd.Series([f"{source or 'sparkov'}-{i + 2}" for i in range(len(frame))])
    history = pd.DataFrame(
        {
            "transaction_id": ids.to_numpy(),
            "card": cards.to_numpy(),
            # The file's local clock read as UTC, as the simulator's calibration reads it.
            "event_time": (when.astype("int64") // 10**9).to_numpy(),
            "amount": amount.to_numpy(),
            "merchant": frame["merchant"].to_numpy(),
            "category": frame["category"].to_numpy(),
            "merchant_lat": coordinates["merch_lat"].to_numpy(),
            "merchant_lon": coordinates["merch_long"].to_numpy(),
            "home_lat": coordinates["lat"].to_numpy(),
            "home_lon": coordinates["long"].to_numpy(),
            "city_pop": _numbers(frame, "city_pop", integer=True).to_numpy(),
            "birth_date": [d.date() for d in born],
            "device": None,
            "ip": None,
            "gender": frame["gender"].to_numpy(),
            "is_fraud": is_fraud.to_numpy(),
            "scenario": [SPARKOV_FRAUD if f else GENUINE for f in is_fraud],
            "chargeback_time": chargeback.array,
        }
    )
    history = history.sort_values("event_time", kind="stable").reset_index(drop=True)
    history.insert(3, "arrival", range(len(history)))
    return history[list(COLUMNS)], tokenised


def import_sparkov_history(
    source: Path, out: Path, key: bytes | None, progress: Progress = lambda _: None
) -> HistoryImport:
    """Read `source`, write its history to `out` (.parquet, .csv or .csv.gz); nothing is
    written when a row is bad."""
    progress(f"reading {source}")
    frame = _read(source)
    progress(f"  {len(frame):,} rows; tokenising cards and checking every value")
    history, tokenised = sparkov_history(frame, key, source.name.split(".")[0])
    partial = out.with_name(f".{out.name}.partial{''.join(out.suffixes)}")
    try:
        write_history(history, partial)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)

    def moment(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    return HistoryImport(
        rows=len(history),
        frauds=int(history.is_fraud.sum()),
        cards=int(history.card.nunique()),
        first=moment(int(history.event_time.min())),
        last=moment(int(history.event_time.max())),
        tokenised=tokenised,
    )
