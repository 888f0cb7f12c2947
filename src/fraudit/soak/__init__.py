"""The soak harness: sustained load, injected faults, zero-loss reconciliation."""
