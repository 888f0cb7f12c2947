"""Replay transactions against the fraudit API: `python scripts/generate_data.py --help`.
A shell over `fraudit simulate` (fraudit.simulator)."""

import sys

from fraudit.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
