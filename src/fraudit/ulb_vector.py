"""Parse and check the 30-number feature vector (Time, V1..V28, Amount).

Pure Python on purpose: this runs inside the Lambda, whose bundle carries no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FEATURE_NAMES: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
N_FEATURES = len(FEATURE_NAMES)
TIME_INDEX = 0
AMOUNT_INDEX = N_FEATURES - 1

FeatureVector = tuple[float, ...]


class FeatureError(ValueError):
    """A feature vector (or a CSV matrix of them) is malformed.

    `row` and `column` are 1-based positions of the first fault, when one can be named.
    """

    def __init__(self, message: str, *, row: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


def _describe(column: int) -> str:
    name = FEATURE_NAMES[column - 1] if 1 <= column <= N_FEATURES else "?"
    return f"position {column} ({name})"


def _to_float(raw: object, column: int, row: int | None) -> float:
    where = _describe(column) if row is None else f"row {row}, {_describe(column)}"
    # bool is an int subclass: `true` in a JSON array is a client bug, not the number 1.
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise FeatureError(
            f"{where}: expected a number, got {type(raw).__name__}", row=row, column=column
        )
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise FeatureError(f"{where}: empty value", row=row, column=column)
        try:
            value = float(text)
        except ValueError:
            shown = text if len(text) <= 20 else text[:20] + "..."
            raise FeatureError(
                f"{where}: {shown!r} is not a number", row=row, column=column
            ) from None
    else:
        value = float(raw)
    if not math.isfinite(value):
        raise FeatureError(f"{where}: {value} is not a finite number", row=row, column=column)
    return value


def _check_row(
    values: Sequence[object], row: int | None, check_ranges: bool = True
) -> FeatureVector:
    if len(values) != N_FEATURES:
        prefix = "" if row is None else f"row {row}: "
        raise FeatureError(
            f"{prefix}expected {N_FEATURES} features (Time, V1..V28, Amount), got {len(values)}",
            row=row,
        )
    vector = tuple(_to_float(raw, i + 1, row) for i, raw in enumerate(values))
    if not check_ranges:
        return vector
    for index, label in ((TIME_INDEX, "Time"), (AMOUNT_INDEX, "Amount")):
        if vector[index] < 0:
            where = _describe(index + 1) if row is None else f"row {row}, {_describe(index + 1)}"
            raise FeatureError(
                f"{where}: {label} must be >= 0, got {vector[index]}", row=row, column=index + 1
            )
    return vector


def parse_features(data: str | Sequence[object]) -> FeatureVector:
    """One feature vector from a CSV string or a JSON array, checked value by value."""
    if isinstance(data, str):
        text = data.strip()
        if "\n" in text:
            raise FeatureError("expected one row of features, got several lines")
        return _check_row(text.split(","), None)
    if isinstance(data, Sequence):
        return _check_row(list(data), None)
    raise FeatureError(
        f"features must be a CSV string or an array of numbers, got {type(data).__name__}"
    )


def parse_csv_matrix(
    text: str, *, n_columns: int = N_FEATURES, check_ranges: bool = True
) -> list[FeatureVector]:
    """Rows of a `text/csv` inference body (SageMaker style: no header, no label column).
    `check_ranges=False` checks only that every cell is a finite number."""
    rows: list[FeatureVector] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != n_columns:
            raise FeatureError(
                f"row {number}: expected {n_columns} columns, got {len(cells)}", row=number
            )
        rows.append(_check_row(cells, number, check_ranges))
    if not rows:
        raise FeatureError("empty body: expected at least one CSV row")
    return rows


def to_csv_row(vector: Sequence[float]) -> str:
    """The vector as one `text/csv` line; repr keeps every float bit-exact."""
    return ",".join(repr(float(v)) for v in vector)
