"""The live population `fraudit simulate --dataset cards` and `make demo` send by default
(light: the command line reads it without loading the simulator)."""

# 20,000 cards at about 3 transactions a day each make 0.7 requests a second at their own
# rates; one day of their history (about 60,000 transactions, about 55 MB of Redis) is
# seeded in 15-25 s here (docs/BENCHMARKS.md, "The demo's live population").
LIVE_CARDS = 20_000
LIVE_SEEDED_DAYS = 1.0
