from __future__ import annotations

import gzip

import numpy as np
import pytest

from fraudit.data.creditcard import COLUMNS, iter_chunks, load_creditcard
from fraudit.errors import DatasetError

pytestmark = pytest.mark.unit

ROW = ["0", *[f"{0.01 * i:.4f}" for i in range(1, 29)], "149.62", "0"]


HEADER = ",".join(COLUMNS)


def write(path, rows, header=HEADER):
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_real_dev_file_loads_with_its_published_counts(dev_csv):
    data = load_creditcard(dev_csv)
    assert data.n_rows == 24_761
    assert data.n_frauds == 360
    assert data.X.shape == (24_761, 30)
    assert data.X.dtype == np.float64
    assert data.time.min() == 0
    assert data.time.max() < 120_000


def test_streaming_in_chunks_gives_the_same_rows(dev_csv):
    whole = load_creditcard(dev_csv)
    chunks = list(iter_chunks(dev_csv, chunk_rows=7_000))
    assert [c.n_rows for c in chunks] == [7_000, 7_000, 7_000, 3_761]
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), whole.X)


def test_kaggle_quoting_and_gzip(tmp_path):
    quoted_header = ",".join(f'"{c}"' for c in COLUMNS)
    rows = [[*ROW[:-1], '"1"'], ROW]
    plain = write(tmp_path / "q.csv", rows, quoted_header)
    zipped = tmp_path / "q.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        data = load_creditcard(path)
        assert data.y.tolist() == [1, 0]


def test_missing_file_points_to_the_readme(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset/README\.md"):
        load_creditcard(tmp_path / "nope.csv")


def test_wrong_header_names_the_first_bad_column(tmp_path):
    header = ",".join(COLUMNS).replace("V7", "V7x")
    with pytest.raises(DatasetError, match=r"header column 8 is 'V7x', expected 'V7'"):
        load_creditcard(write(tmp_path / "h.csv", [ROW], header))
    with pytest.raises(DatasetError, match="header has 30 columns"):
        load_creditcard(write(tmp_path / "s.csv", [ROW], ",".join(COLUMNS[:-1])))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (5, "abc", r"line 4, column 5 \(V4\): 'abc' is not a number"),
        (31, "2", r"line 4, column 31 \(Class\): Class must be 0 or 1"),
        (30, "-3", r"line 4, column 30 \(Amount\): Amount must be >= 0"),
        (2, "inf", r"line 4, column 2 \(V1\): 'inf' is not a finite number"),
        (3, "", r"line 4, column 3 \(V2\): missing value"),
    ],
)
def test_bad_cells_are_located(tmp_path, column, value, message):
    bad = list(ROW)
    bad[column - 1] = value
    path = write(tmp_path / "b.csv", [ROW, ROW, bad, ROW])
    with pytest.raises(DatasetError, match=message):
        load_creditcard(path, chunk_rows=2)  # the fault is in the second chunk


def test_ragged_row_and_empty_files(tmp_path):
    with pytest.raises(DatasetError, match="malformed CSV"):
        load_creditcard(write(tmp_path / "r.csv", [ROW, [*ROW, "extra"]]))
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        load_creditcard(tmp_path / "e.csv")
    with pytest.raises(DatasetError, match="no rows"):
        load_creditcard(write(tmp_path / "h.csv", []))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match="not a readable UTF-8 CSV"):
        load_creditcard(tmp_path / "bin.csv")
