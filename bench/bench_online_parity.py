"""The online store's parity at scale: the parity test of tests/integration/
test_online_features.py with 50,000 simulated transactions over 1,000 cards (`make test`
runs it with 5,000 over 300): 8 concurrent clients through the API's card path, every
recorded vector against the Spark backfill in the store's arrival order.

    python bench/bench_online_parity.py [--quick] [--transactions 50000] [--cards 1000]

Results: bench/results/online_parity-<time>.json (passed, sizes, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine

TEST = (
    "tests/integration/test_online_features.py::"
    "test_every_scored_vector_equals_the_backfill_in_the_stores_order"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="10,000 transactions, 300 cards")
    args = parser.parse_args()
    if args.quick:
        args.transactions, args.cards = 10_000, 300
    env = {
        **os.environ,
        "FRAUDIT_PARITY_TRANSACTIONS": str(args.transactions),
        "FRAUDIT_PARITY_CARDS": str(args.cards),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST, "--durations=3"],
        cwd=REPO,
        env=env,
        check=False,
    )
    result = {
        "machine": machine(),
        "transactions": args.transactions,
        "cards": args.cards,
        "passed": done.returncode == 0,
        "seconds": round(time.monotonic() - started, 1),
    }
    out = REPO / "bench" / "results" / f"online_parity-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
