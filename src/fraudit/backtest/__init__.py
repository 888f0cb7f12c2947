"""Backtests (docs/BACKTESTS.md): a candidate ruleset and decision policy replayed over the
stored decisions of a period, through the same compiled rules the API runs, and judged on
the labels reported by an as-of date beside what the live configuration decided."""
