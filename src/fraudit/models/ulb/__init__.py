"""The ULB model family (fraudit.families.ulb): trained on the ULB credit-card dataset's 30
numbers. Its training (`train.py`), evaluation and candidate changes, its anomaly detector's
fit, its loaded bundle and its serving (in process and on the local model server)."""
