-- The last micro-batch each local streaming query has loaded, written in the same
-- transaction as the batch's rows. The local job loads batch N while Spark already reads
-- N+1, so Spark's checkpoint may run one batch ahead of the database; at start the job
-- trims the checkpoint back to this batch and Spark replays what was not loaded
-- (src/fraudit/stream/pipeline.py).
CREATE TABLE fraud_stream_progress (
    checkpoint              text PRIMARY KEY,   -- the query's checkpoint location
    batch_id                bigint NOT NULL,    -- -1: none loaded yet
    updated_at              timestamptz NOT NULL DEFAULT now()
);
