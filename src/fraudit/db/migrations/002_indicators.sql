-- Windowed risk indicators (fraudit.stream.indicators).

-- The device fingerprint the device-shared-by-many-users rule groups on.
ALTER TABLE fraud_predictions ADD COLUMN device_id text;

-- Each rule re-measures the windows a batch touched with a range scan on (entity, time).
-- (user_id, event_time) exists already.
CREATE INDEX fraud_predictions_ip_time_idx ON fraud_predictions (ip_address, event_time)
    WHERE ip_address IS NOT NULL;
CREATE INDEX fraud_predictions_device_time_idx ON fraud_predictions (device_id, event_time)
    WHERE device_id IS NOT NULL;

-- An alert is raised once per (rule, entity, window) and its value follows the window as
-- more of its events arrive; updated_at says when it last changed.
ALTER TABLE fraud_alerts ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX fraud_alerts_window_start_idx ON fraud_alerts (window_start);

-- The event-time watermark of each job, moved in the same transaction as the rows it has
-- seen: windows that ended before it are closed, and late rows are stored and counted in
-- the rollups but no longer change alerts.
CREATE TABLE fraud_stream_watermarks (
    job                     text PRIMARY KEY,
    watermark               timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
