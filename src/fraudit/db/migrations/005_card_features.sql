-- Card transactions (schema version 2): what the online store computed at scoring time.
-- The feature snapshot is the vector the card model scored (name -> value, null when
-- missing), with the version of the definitions that computed it; the merchant category is
-- a column for the rollups and the dashboard. The rest of the card's details stay in
-- `payload` (what `fraudit features rebuild` reads). NULL for ULB events.
ALTER TABLE fraud_predictions ADD COLUMN merchant_category text;
ALTER TABLE fraud_predictions ADD COLUMN feature_set_version text;
ALTER TABLE fraud_predictions ADD COLUMN features jsonb;

-- Card transactions by merchant category, maintained like the other rollups from the rows
-- each transaction inserted (ULB events have no category and are not counted here).
CREATE TABLE fraud_category_rollups (
    minute                  timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,          -- '' when unknown
    decision                text NOT NULL,
    merchant_category       text NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    amount_sum              numeric NOT NULL,
    PRIMARY KEY (minute, source, country, decision, merchant_category)
);
CREATE TABLE fraud_category_hour_rollups (
    hour                    timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    merchant_category       text NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    amount_sum              numeric NOT NULL,
    PRIMARY KEY (hour, source, country, decision, merchant_category)
);
