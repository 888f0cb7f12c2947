"""The live population `fraudit simulate --dataset cards` and `make demo` send by default
(light: the command line reads it without loading the simulator)."""

# 57,600 cards at about 3 transactions a day each make 2 requests a second at their own
# rates; one day of their history (about 173,000 transactions, about 150 MB of Redis) is
# seeded in about 45 s here (docs/BENCHMARKS.md, "The demo's live population").
LIVE_CARDS = 57_600
LIVE_SEEDED_DAYS = 1.0
