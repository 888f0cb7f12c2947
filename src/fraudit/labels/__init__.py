"""Labels: what became of a decision, learnt weeks later from chargebacks, early fraud
warnings and analysts. The contract, the files they are imported from, the store, and
which label wins when two disagree (docs/LABELS.md)."""
