"""What a command tells its user: one line on stderr, flushed (stdout stays for results a
script reads, such as the version `fraudit train` prints)."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
