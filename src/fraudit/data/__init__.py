"""Data fraudit learns from and replays: the ULB creditcard.csv, a calibrated synthetic
stand-in, and transaction metadata for the simulator."""
