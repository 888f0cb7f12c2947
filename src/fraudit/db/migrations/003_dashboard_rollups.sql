-- Rollups behind the dashboard's score histogram and activity map, maintained with
-- fraud_minute_rollups from the rows each transaction inserted: exact under replay, and
-- each panel reads minutes instead of rows.

-- fraud_proba in 20 buckets of 0.05 (bucket 1 = [0, 0.05), ..., bucket 20 = [0.95, 1]).
CREATE TABLE fraud_score_rollups (
    minute                  timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,          -- '' when unknown
    decision                text NOT NULL,
    bucket                  smallint NOT NULL CHECK (bucket BETWEEN 1 AND 20),
    transactions            bigint NOT NULL,
    PRIMARY KEY (minute, source, country, decision, bucket)
);

-- Activity on a half-degree grid (cell = floor(coordinate * 2) / 2): a map of places,
-- not of rows. Rows without coordinates are not mapped.
CREATE TABLE fraud_geo_rollups (
    minute                  timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    lat_cell                numeric(5, 1) NOT NULL,
    lon_cell                numeric(5, 1) NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    PRIMARY KEY (minute, source, country, decision, lat_cell, lon_cell)
);
