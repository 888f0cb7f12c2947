-- The reaper of unfinished attempts (fraudit.online.reaper) asks how far the stream job has
-- loaded: the newest scored_at. An index answers that from its last entry, not a scan.
CREATE INDEX fraud_predictions_scored_at_idx ON fraud_predictions (scored_at);
