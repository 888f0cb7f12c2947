-- Card transactions (schema version 2): what the online store computed at scoring time.
-- The feature snapshot is the vector the card model scored (name -> value, null when
-- missing), with the version of the definitions that computed it; the merchant category is
-- a column for the rollups and the dashboard. The rest of the card's details stay in
-- `payload` (what `fraudit features rebuild` reads). NULL for ULB events.
ALTER TABLE fraud_predictions ADD COLUMN merchant_category text;
ALTER TABLE fraud_predictions ADD COLUMN feature_set_version text;
ALTER TABLE fraud_predictions ADD COLUMN features jsonb;
