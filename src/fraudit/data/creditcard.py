"""Loader for the ULB/Kaggle `creditcard.csv` (Time, V1..V28, Amount, Class).

The file is read in chunks (the full set is 150 MB); every chunk is checked for the header,
numeric types, finite values and a 0/1 label, and the first fault is reported with its line
and column so a user with a damaged download knows where to look.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fraudit.errors import DatasetError
from fraudit.ulb_vector import ULB_COLUMNS

LABEL = "Class"
COLUMNS: tuple[str, ...] = (*ULB_COLUMNS, LABEL)
DEFAULT_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class Dataset:
    """Features in file column order (float64, n x 30) and labels (int8, 0/1)."""

    X: np.ndarray
    y: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.shape[1] != len(ULB_COLUMNS):
            raise DatasetError(f"expected {len(ULB_COLUMNS)} feature columns, got {self.X.shape}")
        if len(self.X) != len(self.y):
            raise DatasetError("features and labels differ in length")

    @property
    def time(self) -> np.ndarray:
        return self.X[:, 0]

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_frauds(self) -> int:
        return int(self.y.sum())

    def take(self, mask: np.ndarray) -> Dataset:
        return Dataset(self.X[mask], self.y[mask], self.source)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def check_header(path: Path) -> None:
    """Fail early, naming the first wrong column, unless the header is the expected one."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (see dataset/README.md for how to get it)")
    try:
        with _open_text(path) as handle:
            header = next(csv.reader(handle), None)
    except (UnicodeDecodeError, OSError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None
    if not header:
        raise DatasetError(f"{path}: the file is empty")
    found = [name.strip() for name in header]
    if found == list(COLUMNS):
        return
    for position, (want, got) in enumerate(zip(COLUMNS, found, strict=False), start=1):
        if want != got:
            raise DatasetError(
                f"{path}: header column {position} is {got!r}, expected {want!r} "
                f"(expected header: {','.join(COLUMNS)})"
            )
    raise DatasetError(
        f"{path}: header has {len(found)} columns, expected {len(COLUMNS)}: {','.join(COLUMNS)}"
    )


def _locate_fault(frame: pd.DataFrame, first_line: int, path: Path) -> DatasetError:
    """Name the first cell of a raw (string) chunk that is not a valid value."""
    for offset, row in enumerate(frame.itertuples(index=False)):
        for position, (name, cell) in enumerate(zip(COLUMNS, row, strict=True), start=1):
            where = f"{path}: line {first_line + offset}, column {position} ({name})"
            if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell == "":
                return DatasetError(f"{where}: missing value")
            try:
                value = float(cell)
            except ValueError:
                return DatasetError(f"{where}: {str(cell)[:30]!r} is not a number")
            if not math.isfinite(value):
                return DatasetError(f"{where}: {cell!r} is not a finite number")
            if name == LABEL and value not in (0.0, 1.0):
                return DatasetError(f"{where}: Class must be 0 or 1, got {cell!r}")
            if name in ("Time", "Amount") and value < 0:
                return DatasetError(f"{where}: {name} must be >= 0, got {cell!r}")
    return DatasetError(f"{path}: lines {first_line}..: malformed rows")


def iter_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Dataset]:
    """Stream the file as checked chunks, so memory stays flat whatever the file size."""
    path = Path(path)
    check_header(path)
    reader = pd.read_csv(
        path,
        dtype=str,
        chunksize=chunk_rows,
        keep_default_na=False,
        na_filter=False,
        on_bad_lines="error",
        engine="c",
    )
    first_line = 2  # line 1 is the header
    try:
        for raw in reader:
            try:
                values = raw.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
            except (ValueError, TypeError):
                raise _locate_fault(raw, first_line, path) from None
            label = values[:, -1]
            if (
                not np.isfinite(values).all()
                or not np.isin(label, (0.0, 1.0)).all()
                or (values[:, 0] < 0).any()
                or (values[:, -2] < 0).any()
            ):
                raise _locate_fault(raw, first_line, path)
            yield Dataset(values[:, :-1], label.astype(np.int8), str(path))
            first_line += len(raw)
    except pd.errors.ParserError as exc:
        raise DatasetError(f"{path}: malformed CSV near line {first_line}: {exc}") from None


def load_creditcard(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> Dataset:
    """The whole file, checked; `progress` is called with the running row count."""
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    rows = 0
    for chunk in iter_chunks(path, chunk_rows):
        features.append(chunk.X)
        labels.append(chunk.y)
        rows += chunk.n_rows
        if progress is not None:
            progress(rows)
    if not rows:
        raise DatasetError(f"{path}: header only, no rows")
    return Dataset(np.concatenate(features), np.concatenate(labels), str(path))
