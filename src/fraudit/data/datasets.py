"""Where the rows fraudit trains on and replays come from, in one order everywhere: the
file the user names, else the configured file (FRAUDIT_DATASET_PATH, default
dataset/creditcard.csv), else the real sample committed with the repository
(dataset/samples/), else calibrated synthetic rows.

The committed samples (dataset/README.md says what each is, with its licence):
- creditcard_dev.csv.gz: 24,761 real rows of the ULB dataset (Time < 120,000 s, 360 frauds);
- sparkov_train_sample.csv.gz, sparkov_test_sample.csv.gz: real Sparkov rows, card numbers
  replaced by keyed tokens on import (fraudit.data.sparkov).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fraudit.data.creditcard import Dataset

SAMPLES_FOLDER = Path("dataset") / "samples"
ULB_DEV_SAMPLE = "creditcard_dev.csv.gz"
SPARKOV_TRAIN_SAMPLE = "sparkov_train_sample.csv.gz"
SPARKOV_TEST_SAMPLE = "sparkov_test_sample.csv.gz"


def _repository_root() -> Path:
    # src/fraudit/data/datasets.py -> the checkout (an editable install runs from there).
    return Path(__file__).resolve().parents[3]


def sample_path(name: str) -> Path | None:
    """A committed sample, found under the working directory (the Docker image, a run from
    the checkout) or the checkout this package was installed from; None if neither has it."""
    for root in (Path.cwd(), _repository_root()):
        candidate = root / SAMPLES_FOLDER / name
        if candidate.is_file():
            return candidate
    return None


def resolve_dataset(
    explicit: Path | None,
    configured: Path,
    *,
    synthetic_rows: int,
    seed: int,
    say: Callable[[str], None] = lambda _: None,
) -> Dataset:
    """The ULB-format rows to use (see the module docstring for the order); says which."""
    from fraudit.data.creditcard import load_creditcard
    from fraudit.errors import DatasetError

    if explicit is not None:
        if not explicit.is_file():
            raise DatasetError(f"{explicit}: no such file")
        candidate: Path | None = explicit
    elif configured.is_file():
        candidate = configured
    else:
        candidate = sample_path(ULB_DEV_SAMPLE)
        if candidate is not None:
            say(f"{configured} not found: using the real development sample {candidate}")
    if candidate is not None:
        say(f"loading {candidate}")
        data = load_creditcard(candidate, progress=lambda n: say(f"  {n:,} rows read"))
    else:
        from fraudit.data.synthetic import SyntheticCreditCard

        say(
            f"{configured} not found and no committed sample: generating {synthetic_rows:,} "
            f"calibrated synthetic rows (seed {seed}); see dataset/README.md for the real file"
        )
        data = SyntheticCreditCard().generate(synthetic_rows, seed)
    say(
        f"  {data.n_rows:,} rows, {data.n_frauds:,} frauds "
        f"({100 * data.n_frauds / data.n_rows:.3f}%)"
    )
    return data
