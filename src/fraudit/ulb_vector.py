"""Parse and check the 30-number feature vector (Time, V1..V28, Amount).

Pure Python on purpose: this runs inside the Lambda, whose bundle carries no numpy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from fraudit.validity import MAX_FEATURE_MAGNITUDE, feature_problem

ULB_COLUMNS: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
N_FEATURES = len(ULB_COLUMNS)
TIME_INDEX = 0
AMOUNT_INDEX = N_FEATURES - 1

FeatureVector = tuple[float, ...]

# The CSV form of a request's `data`: 30 decimal numbers, Time and Amount unsigned, each of
# magnitude below MAX_FEATURE_MAGNITUDE by construction (at most that many integer digits,
# negative exponents only), with spaces allowed around them. The API accepts exactly this
# grammar and the OpenAPI document states it, so the document is the truth.
_INTEGER_DIGITS = len(str(int(MAX_FEATURE_MAGNITUDE))) - 1
_UNSIGNED = rf"(0|[1-9][0-9]{{0,{_INTEGER_DIGITS - 1}}})(\.[0-9]{{1,20}})?([eE]-[0-9]{{1,3}})?"
_SIGNED = f"-?{_UNSIGNED}"
_CELL_PATTERNS = (_UNSIGNED, *([_SIGNED] * 28), _UNSIGNED)
# The 28 signed cells as one repeated group: the same language as 28 copies, and a pattern
# a schema-driven generator compiles once rather than 28 times.
CSV_ROW_PATTERN = rf"^ *{_UNSIGNED} *(, *{_SIGNED} *){{{N_FEATURES - 2}}}, *{_UNSIGNED} *$"
_CELLS = tuple(re.compile(f" *{cell} *") for cell in _CELL_PATTERNS)


class FeatureError(ValueError):
    """A feature vector (or a CSV matrix of them) is malformed.

    `row` and `column` are 1-based positions of the first fault, when one can be named.
    """

    def __init__(self, message: str, *, row: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


def _describe(column: int) -> str:
    name = ULB_COLUMNS[column - 1] if 1 <= column <= N_FEATURES else "?"
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
        try:
            value = float(raw)
        except OverflowError:  # an integer too large for a float: JSON allows any digits
            raise FeatureError(
                f"{where}: the integer is too large to be a feature",
                row=row,
                column=column,
            ) from None
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
    for index, value in enumerate(vector):
        where = _describe(index + 1) if row is None else f"row {row}, {_describe(index + 1)}"
        problem = feature_problem(value)
        if problem is None and index in (TIME_INDEX, AMOUNT_INDEX) and value < 0:
            problem = f"{ULB_COLUMNS[index]} must be >= 0, got {value}"
        if problem is not None:
            raise FeatureError(f"{where}: {problem}", row=row, column=index + 1)
    return vector


def _check_csv_cells(text: str) -> None:
    if "\n" in text.strip():
        raise FeatureError("expected one row of features, got several lines")
    cells = text.split(",")
    if len(cells) != N_FEATURES:
        raise FeatureError(
            f"expected {N_FEATURES} features (Time, V1..V28, Amount) separated by commas, "
            f"got {len(cells)}"
        )
    for column, (cell, grammar) in enumerate(zip(cells, _CELLS, strict=True), start=1):
        if not grammar.fullmatch(cell):
            shown = cell if len(cell) <= 20 else cell[:20] + "..."
            sign = "an unsigned" if column in (TIME_INDEX + 1, AMOUNT_INDEX + 1) else "a"
            raise FeatureError(
                f"{_describe(column)}: {shown!r} is not {sign} decimal number of magnitude "
                f"below {MAX_FEATURE_MAGNITUDE:g}",
                column=column,
            )


def parse_features(data: str | Sequence[object]) -> FeatureVector:
    """One feature vector from a CSV string or a JSON array of numbers, checked value by
    value."""
    if isinstance(data, str):
        _check_csv_cells(data)
        return _check_row(data.split(","), None)
    if isinstance(data, Sequence):
        for column, raw in enumerate(data, start=1):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise FeatureError(
                    f"{_describe(column)}: expected a JSON number, got {type(raw).__name__}",
                    column=column,
                )
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


def features_json_schema() -> dict[str, Any]:
    """What `data` accepts, exactly: the CSV grammar above or an array of 30 numbers."""
    bound = MAX_FEATURE_MAGNITUDE
    signed = {"type": "number", "minimum": -bound, "maximum": bound}
    unsigned = {"type": "number", "minimum": 0, "maximum": bound}
    return {
        "description": "Time, V1..V28, Amount: a CSV string or a JSON array of 30 numbers; "
        f"Time and Amount >= 0, every value of magnitude at most {bound:g}",
        "oneOf": [
            {"type": "string", "pattern": CSV_ROW_PATTERN},
            {
                "type": "array",
                "prefixItems": [unsigned, *([signed] * 28), unsigned],
                "items": False,
                "minItems": N_FEATURES,
                "maxItems": N_FEATURES,
            },
        ],
    }


def to_csv_row(vector: Sequence[float]) -> str:
    """The vector as one `text/csv` line; repr keeps every float bit-exact."""
    return ",".join(repr(float(v)) for v in vector)
