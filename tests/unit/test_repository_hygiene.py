"""The repository stands alone and holds no card number: checked over every tracked file
(compressed samples included), as a clone has them."""

from __future__ import annotations

import gzip
import subprocess

import pytest

from fraudit.card_numbers import find_pans, luhn_valid
from tests.conftest import REPO

pytestmark = pytest.mark.unit

# Spelled in pieces so that this file does not match itself.
FORBIDDEN = ("../" + "shared", 'parent / "' + 'shared"', "DES" + "IGN")


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"these checks read the files git tracks; git ls-files failed: "
            f"{result.stderr.decode(errors='replace')}"
        )
    return [name for name in result.stdout.decode().split("\0") if name]


def text_of(name: str) -> str | None:
    """The file's text (decompressed when gzipped); None for a binary file."""
    data = (REPO / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_tracked_file_refers_outside_the_repository():
    offending = [
        f"{name}: {word}"
        for name in tracked_files()
        if (text := text_of(name)) is not None
        for word in FORBIDDEN
        if word in text
    ]
    assert not offending, "files that point outside the repository:\n" + "\n".join(offending)


def test_no_tracked_file_holds_a_card_number():
    found = [
        f"{name}: {pan}"
        for name in tracked_files()
        if (text := text_of(name)) is not None
        for pan in find_pans(text)
    ]
    assert not found, "Luhn-valid 13-19 digit numbers in tracked files:\n" + "\n".join(found)


def test_the_committed_samples_are_scanned():
    # The scan must reach the compressed samples, or it proves nothing about them.
    names = tracked_files()
    assert "dataset/samples/sparkov_test_sample.csv.gz" in names
    assert "card_" in text_of("dataset/samples/sparkov_test_sample.csv.gz")


# The well-known test card number, assembled here so that this file holds none.
TEST_PAN = "4" + "1" * 15
GROUPS = [TEST_PAN[i : i + 4] for i in range(0, 16, 4)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TEST_PAN, [TEST_PAN]),
        (f"card_{TEST_PAN},x", [TEST_PAN]),
        (" ".join(GROUPS) + ", " + "-".join(GROUPS), [" ".join(GROUPS), "-".join(GROUPS)]),
        (TEST_PAN[:-1] + "2", []),  # fails the Luhn check
        ("0." + TEST_PAN, []),  # digits of a decimal fraction
        (TEST_PAN + "1111111", []),  # longer than any card number
        ("49000000000000000000000000001", []),  # a Kinesis sequence number
        ("804887774400491c1b93", []),  # digits inside a hex digest
    ],
)
def test_card_number_scan(text, expected):
    assert find_pans(text) == expected


def test_luhn():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("7992-7398713")
