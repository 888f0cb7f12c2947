"""Label files: CSV (a header naming the columns) or Parquet, with the columns of
contract.LABEL_FIELDS. A file is read whole before anything is stored: one bad row refuses
the file, and every bad row (up to MAX_PROBLEMS) is named by line, or row, and column."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fraudit.labels.contract import LABEL_FIELDS, REQUIRED_LABEL_FIELDS, Label

MAX_PROBLEMS = 50


class LabelFileRefused(ValueError):
    """The file cannot be imported; nothing was stored. `problems` name each bad row."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: nothing imported, {len(problems)} problem(s):\n{shown}")


def _header_problems(columns: list[str], where: str) -> list[str]:
    problems = [f"{where}: missing column {c!r}" for c in REQUIRED_LABEL_FIELDS if c not in columns]
    unknown = sorted(set(columns) - set(LABEL_FIELDS))
    if unknown:
        problems.append(f"{where}: unknown columns {unknown} (expected {list(LABEL_FIELDS)})")
    return problems


def _row_problems(error: ValidationError, where: str) -> list[str]:
    out = []
    for item in error.errors():
        column = str(item["loc"][0]) if item["loc"] else "row"
        out.append(f"{where}, column {column}: {item['msg']}")
    return out


def _number(text: Any) -> Any:
    """A CSV cell's text as a number where it reads as one (else as given, for the contract
    to name what is wrong)."""
    if not isinstance(text, str):
        return text
    try:
        return float(text)
    except ValueError:
        return text


def _label(values: Mapping[str, Any], where: str, problems: list[str]) -> Label | None:
    present = {k: v for k, v in values.items() if v is not None and v != ""}
    if "amount" in present:
        present["amount"] = _number(present["amount"])
    try:
        return Label.model_validate(present)
    except ValidationError as exc:
        problems.extend(_row_problems(exc, where))
        return None


def _csv_rows(text: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    problems = _header_problems(columns, "line 1")
    if problems:
        raise LabelFileRefused("header", problems)
    for row in reader:
        if None in row:  # more cells than the header names
            yield f"line {reader.line_num}", {"__extra__": row[None]}
            continue
        yield f"line {reader.line_num}", {k: (v.strip() if v else v) for k, v in row.items()}


def _parquet_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LabelFileRefused("file", [f"not a readable Parquet file: {exc}"]) from None
    problems = _header_problems(table.column_names, "schema")
    if problems:
        raise LabelFileRefused("schema", problems)
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", row


def read_labels(path: Path) -> list[Label]:
    """Every label of the file, or LabelFileRefused naming each bad row."""
    parquet = path.suffix.lower() in {".parquet", ".pq"}
    try:
        rows = _parquet_rows(path) if parquet else _csv_rows(path.read_text(encoding="utf-8"))
        labels: list[Label] = []
        problems: list[str] = []
        for where, values in rows:
            if "__extra__" in values:
                problems.append(f"{where}: more cells than the header names")
            else:
                label = _label(values, where, problems)
                if label is not None:
                    labels.append(label)
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"(stopped after {MAX_PROBLEMS} problems)")
                break
    except LabelFileRefused as exc:
        raise LabelFileRefused(str(path), exc.problems) from None
    except UnicodeDecodeError as exc:
        raise LabelFileRefused(str(path), [f"not UTF-8 text: {exc.reason}"]) from None
    if problems:
        raise LabelFileRefused(str(path), problems)
    if not labels:
        raise LabelFileRefused(str(path), ["no labels in the file"])
    return labels
