from __future__ import annotations

import math

import pytest

from fraudit.ulb_vector import (
    ULB_COLUMNS,
    FeatureError,
    parse_csv_matrix,
    parse_features,
    to_csv_row,
)

pytestmark = pytest.mark.unit

ROW = [0.0, *[0.1 * i for i in range(1, 29)], 149.62]


def test_names_are_time_v1_to_v28_amount():
    assert ULB_COLUMNS[0] == "Time"
    assert ULB_COLUMNS[-1] == "Amount"
    assert ULB_COLUMNS[1:-1] == tuple(f"V{i}" for i in range(1, 29))


def test_csv_and_array_give_the_same_vector():
    assert parse_features(to_csv_row(ROW)) == parse_features(ROW) == tuple(ROW)


def test_csv_round_trip_is_bit_exact():
    values = [1 / 3, *[math.pi * i for i in range(1, 29)], 0.1]
    assert parse_features(to_csv_row(values)) == tuple(values)


@pytest.mark.parametrize("count", [29, 31, 0])
def test_wrong_count(count):
    with pytest.raises(FeatureError, match=f"expected 30 features.*got {count}"):
        parse_features([1.0] * count)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("nan", "'nan' is not a decimal number"),
        ("inf", "'inf' is not a decimal number"),
        ("abc", "'abc' is not a decimal number"),
        ("", "'' is not a decimal number"),
        ("1e5", "'1e5' is not a decimal number"),  # positive exponents could exceed the bound
        ("1_0", "'1_0' is not a decimal number"),  # Python's float() would take it
        ("1" * 10, r"'1111111111' is not a decimal number of magnitude below 1e\+09"),
    ],
)
def test_bad_cell_in_csv_names_its_position(bad, shown):
    cells = [str(v) for v in ROW]
    cells[4] = bad
    with pytest.raises(FeatureError, match=rf"position 5 \(V4\): {shown}") as info:
        parse_features(",".join(cells))
    assert info.value.column == 5


@pytest.mark.parametrize("bad", [True, None, "x", "1.0", [1.0], float("nan"), 10**400, 1e10])
def test_bad_array_values(bad):
    values: list[object] = list(ROW)
    values[10] = bad
    with pytest.raises(FeatureError, match=r"position 11 \(V10\)"):
        parse_features(values)


def test_negative_amount_and_time_are_refused():
    with pytest.raises(FeatureError, match=r"position 30 \(Amount\).*>= 0"):
        parse_features([*ROW[:-1], -1.0])
    with pytest.raises(FeatureError, match=r"position 1 \(Time\).*>= 0"):
        parse_features([-5.0, *ROW[1:]])


def test_several_lines_are_not_one_vector():
    with pytest.raises(FeatureError, match="several lines"):
        parse_features(to_csv_row(ROW) + "\n" + to_csv_row(ROW))


def test_matrix_names_row_and_column():
    good = to_csv_row(ROW)
    cells = good.split(",")
    cells[29] = "oops"
    with pytest.raises(FeatureError, match=r"row 3, position 30 \(Amount\)") as info:
        parse_csv_matrix("\n".join([good, good, ",".join(cells)]))
    assert (info.value.row, info.value.column) == (3, 30)
    with pytest.raises(FeatureError, match="row 2: expected 30 columns, got 2"):
        parse_csv_matrix(good + "\n1,2\n")
    with pytest.raises(FeatureError, match="empty body"):
        parse_csv_matrix("\n\n")


def test_matrix_range_checks_can_be_left_to_the_api():
    row = to_csv_row([*ROW[:-1], -3.0])
    assert parse_csv_matrix(row, check_ranges=False)[0][-1] == -3.0
    with pytest.raises(FeatureError):
        parse_csv_matrix(row)
