"""`fraudit import sparkov`: a Sparkov-format file becomes a labelled card history in one
step. Main had only the tokenising copy (`fraudit.data.sparkov.import_file`): a user with
Kaggle's fraudTrain.csv had no command that made a history the backfill, `train` and
`evaluate` read."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from fraudit.card_numbers import find_pans
from fraudit.cli import main
from fraudit.data.card_simulation import COLUMNS
from fraudit.data.sparkov import SparkovImportError, card_token
from fraudit.data.sparkov_history import import_sparkov_history
from fraudit.settings import get_settings

pytestmark = pytest.mark.unit

KEY = b"k" * 32
HEADER = ["", "trans_date_trans_time", "cc_num", "first", "last", "merchant", "category", "amt",
          "gender", "street", "lat", "long", "city_pop", "dob", "trans_num", "merch_lat",
          "merch_long", "is_fraud"]  # fmt: skip
# Luhn-valid card numbers, assembled so that this file holds none.
CARDS = ["4" + "1" * 15, "5" + "0" * 14 + "4"]


def sparkov_row(i: int, when: str, card: str, amount: str = "12.50", fraud: int = 0) -> list[str]:
    return [str(i), when, card, "Jeff", "Elliott", "fraud_Kirlin", "shopping_net", amount,
            "M", "351 Darlene Green", "40.1", "-75.2", "2500", "1968-03-19",
            f"2da90c7d74bd46a0caf3777415b3ebd{i}", "40.3", "-75.0", str(fraud)]  # fmt: skip


def write(path, rows) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])


def test_a_sparkov_file_becomes_a_history_with_tokens_in_event_time_order(tmp_path):
    source, out = tmp_path / "fraudTest.csv.gz", tmp_path / "history.parquet"
    write(
        source,
        [
            sparkov_row(0, "2020-06-21 12:14:25", CARDS[0]),
            sparkov_row(1, "2020-06-21 11:00:00", CARDS[1], "80.10", fraud=1),
            sparkov_row(2, "2020-06-22 09:30:00", CARDS[0], "0"),
        ],
    )
    done = import_sparkov_history(source, out, KEY)
    history = pd.read_parquet(out)
    assert list(history.columns) == list(COLUMNS)
    assert (done.rows, done.frauds, done.cards, done.tokenised) == (3, 1, 2, 2)
    assert history.card.tolist() == [card_token(c, KEY) for c in (CARDS[1], CARDS[0], CARDS[0])]
    assert history.event_time.tolist() == [
        int(datetime(2020, 6, 21, h, m, s, tzinfo=UTC).timestamp())
        for h, m, s in ((11, 0, 0), (12, 14, 25))
    ] + [int(datetime(2020, 6, 22, 9, 30, tzinfo=UTC).timestamp())]
    assert history.arrival.tolist() == [0, 1, 2]
    assert history.amount.tolist() == [80.10, 12.50, 0.0]
    assert history.is_fraud.tolist() == [True, False, False]
    assert history.scenario.tolist() == ["fraud", "genuine", "genuine"]
    assert history.chargeback_time.isna().all()  # Sparkov carries no report date
    assert history.birth_date.tolist() == [date(1968, 3, 19)] * 3
    assert history.device.isna().all()
    assert history.ip.isna().all()
    text = history.to_csv()
    assert not find_pans(text)
    assert not any(word in text for word in ("Jeff", "Elliott", "Darlene"))


def test_tokens_already_in_the_file_are_kept_and_need_no_key(tmp_path):
    source, out = tmp_path / "sample.csv.gz", tmp_path / "history.csv.gz"
    token = "card_4ul5ynlvcy73pb3c"
    write(source, [sparkov_row(0, "2020-06-21 12:14:25", token)])
    assert import_sparkov_history(source, out, None).tokenised == 0
    assert pd.read_csv(out).card.tolist() == [token]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (sparkov_row(5, "2020-06-21 12:14:25", CARDS[0], "abc"), "line 3, column amt: 'abc'"),
        (sparkov_row(5, "2020-06-21 12:14:25", CARDS[0], "5e-324"), "line 3, column amt"),
        (sparkov_row(5, "2020-06-21 12:14:25", CARDS[0], "inf"), "line 3, column amt"),
        (sparkov_row(5, "21/06/2020 12:14", CARDS[0]), "line 3, column trans_date_trans_time"),
        (sparkov_row(5, "2020-06-21 12:14:25", CARDS[0], fraud=2), "line 3, column is_fraud"),
        (sparkov_row(5, "2020-06-21 12:14:25", ""), "line 3, column cc_num: empty"),
    ],
)
def test_a_bad_row_is_named_by_line_and_column_and_nothing_is_written(tmp_path, row, message):
    source, out = tmp_path / "in.csv.gz", tmp_path / "history.parquet"
    write(source, [sparkov_row(0, "2020-06-21 12:14:25", CARDS[0]), row])
    with pytest.raises(SparkovImportError, match=message):
        import_sparkov_history(source, out, KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv.gz"]


def test_card_numbers_without_a_key_are_refused_through_the_command(tmp_path, monkeypatch, capsys):
    source, out = tmp_path / "fraudTrain.csv.gz", tmp_path / "history.parquet"
    write(source, [sparkov_row(0, "2020-06-21 12:14:25", CARDS[0])])
    monkeypatch.delenv("FRAUDIT_CARD_TOKEN_KEY", raising=False)
    get_settings.cache_clear()  # the command reads the key from the settings
    assert main(["import", "sparkov", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "set FRAUDIT_CARD_TOKEN_KEY" in err
    assert not find_pans(err)
    assert not out.exists()
    monkeypatch.setenv("FRAUDIT_CARD_TOKEN_KEY", KEY.decode())
    get_settings.cache_clear()
    try:
        assert main(["import", "sparkov", str(source), "--out", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    assert "1 card numbers tokenised" in capsys.readouterr().err
    assert pd.read_parquet(out).card.tolist() == [card_token(CARDS[0], KEY)]


def test_a_file_without_sparkov_columns_says_which_are_missing(tmp_path):
    source = tmp_path / "creditcard.csv"
    source.write_text("Time,V1,Amount,Class\n0,1.0,2.0,0\n")
    with pytest.raises(SparkovImportError, match="no column trans_date_trans_time, cc_num"):
        import_sparkov_history(source, tmp_path / "h.parquet", KEY)
