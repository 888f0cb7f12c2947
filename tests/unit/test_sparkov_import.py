"""Importing Sparkov files: card numbers become keyed tokens, the columns a card product
never keeps are dropped, everything else is kept as it was."""

from __future__ import annotations

import csv
import gzip

import pytest

from fraudit.card_numbers import find_pans
from fraudit.data.sparkov import (
    DROPPED_COLUMNS,
    SparkovImportError,
    card_token,
    import_file,
)

pytestmark = pytest.mark.unit

KEY = b"k" * 32
HEADER = [
    "trans_date_trans_time",
    "cc_num",
    "merchant",
    "category",
    "amt",
    "first",
    "last",
    "gender",
    "street",
    "city",
    "dob",
    "trans_num",
    "unix_time",
    "is_fraud",
]
# Luhn-valid card numbers, assembled so that this file holds none.
CARDS = ["4" + "1" * 15, "5" + "0" * 14 + "4"]


def rows() -> list[list[str]]:
    return [
        [
            "2020-06-21 12:14:25",
            CARDS[i % 2],
            "fraud_Kirlin",
            "shopping_net",
            "12.5",
            "Jeff",
            "Elliott",
            "M",
            "351 Darlene Green",
            "Columbia",
            "1968-03-19",
            f"2da90c7d74bd46a0caf3777415b3ebd{i}",
            str(1371816865 + i),
            str(i % 2),
        ]
        for i in range(6)
    ]


def test_import_tokenizes_cards_and_drops_what_a_card_product_never_keeps(tmp_path):
    source = tmp_path / "fraudTrain.csv"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows()])
    assert find_pans(source.read_text())  # the input does hold card numbers
    summary = import_file(source, tmp_path / "out.csv.gz", KEY)
    text = gzip.decompress((tmp_path / "out.csv.gz").read_bytes()).decode()
    out = list(csv.reader(text.splitlines()))
    assert summary.rows == 6
    assert summary.cards == 2
    assert out[0] == [c for c in HEADER if c not in DROPPED_COLUMNS]
    assert not find_pans(text)
    assert not any(name in text for name in ("Jeff", "Elliott", "Darlene", "2da90c7d"))
    tokens = [row[1] for row in out[1:]]
    assert tokens == [card_token(CARDS[i % 2], KEY) for i in range(6)]
    assert [row[2:] for row in out[1:3]] == [
        [
            "fraud_Kirlin",
            "shopping_net",
            "12.5",
            "M",
            "Columbia",
            "1968-03-19",
            str(1371816865 + i),
            str(i % 2),
        ]
        for i in range(2)
    ]
    assert not list(tmp_path.glob(".*partial"))  # written under a temporary name, then moved


def test_tokens_are_stable_per_key_and_differ_across_keys():
    assert card_token(CARDS[0], KEY) == card_token(CARDS[0], KEY)
    assert card_token(CARDS[0], KEY) != card_token(CARDS[1], KEY)
    assert card_token(CARDS[0], KEY) != card_token(CARDS[0], b"o" * 32)
    assert card_token(CARDS[0], KEY).startswith("card_")


@pytest.mark.parametrize(
    ("content", "key", "message"),
    [
        ("a,b\n1,2\n", KEY, "no 'cc_num' column"),
        ("", KEY, "empty"),
        ("cc_num,amt\n4,1,9\n", KEY, "line 2: 3 fields"),
        ("cc_num,amt\n4,1\n", b"short", "at least 16 bytes"),
    ],
)
def test_bad_files_and_keys_are_refused_with_the_reason(tmp_path, content, key, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    with pytest.raises(SparkovImportError, match=message):
        import_file(source, tmp_path / "out.csv", key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # nothing half-written
