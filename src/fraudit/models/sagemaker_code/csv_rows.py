"""CSV rows as every fraudit model container reads them (one file, shipped as
`code/csv_rows.py` beside each container's `code/inference.py`, and imported by fraudit
itself): a row of `width` numbers, an empty field a missing value, as the built-in XGBoost
container reads it. Needs only numpy."""

from __future__ import annotations

import math

import numpy as np

# How a caller asks a container for explanations instead of scores (the Accept header);
# fraudit.scoring.base names the same type for the API's side.
EXPLAIN_MEDIA_TYPE = "application/vnd.fraudit.explain+json"


def parse_rows(text: str, width: int) -> np.ndarray:
    """CSV rows of `width` numbers; an empty field is missing (NaN). Raises ValueError
    naming the first bad row."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise ValueError(f"row {number}: {len(fields)} fields, expected {width}")
        try:
            values = [float(f) if f.strip() else np.nan for f in fields]
        except ValueError:
            raise ValueError(f"row {number}: a field is not a number") from None
        if any(map(math.isinf, values)):
            raise ValueError(f"row {number}: infinite value")
        rows.append(values)
    if not rows:
        raise ValueError("no rows")
    return np.array(rows, dtype=np.float64)


def media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def text_of(body: bytes | str, content_type: str) -> str:
    if media_type(content_type) != "text/csv":
        raise ValueError(f"unsupported content type {content_type!r}; send text/csv")
    return body.decode("utf-8") if isinstance(body, bytes) else body
