from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEV_CSV = SHARED_DATA / "ulb" / "creditcard_dev.csv"


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    if not DEV_CSV.is_file():  # CI always has ../shared beside the clone
        pytest.fail(f"real dev data missing: {DEV_CSV}")
    return DEV_CSV
