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
-- not of rows. Rows without coordinates are not mapped. No source dimension: the map is
-- the largest rollup and a month of it must still read in well under a second.
CREATE TABLE fraud_geo_rollups (
    minute                  timestamptz NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    lat_cell                numeric(5, 1) NOT NULL,
    lon_cell                numeric(5, 1) NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    PRIMARY KEY (minute, country, decision, lat_cell, lon_cell)
);

-- The same three rollups by the hour, for long periods: a month is 720 hours per
-- combination of dimensions instead of 43,200 minutes. A period is read from minutes at its
-- ragged ends and from hours in between, so totals stay exact to the minute.
CREATE TABLE fraud_hour_rollups (
    hour                    timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    amount_sum              numeric NOT NULL,
    fraud_proba_sum         numeric NOT NULL,
    PRIMARY KEY (hour, source, country, decision)
);
CREATE TABLE fraud_score_hour_rollups (
    hour                    timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    bucket                  smallint NOT NULL CHECK (bucket BETWEEN 1 AND 20),
    transactions            bigint NOT NULL,
    PRIMARY KEY (hour, source, country, decision, bucket)
);
CREATE TABLE fraud_geo_hour_rollups (
    hour                    timestamptz NOT NULL,
    country                 text NOT NULL,
    decision                text NOT NULL,
    lat_cell                numeric(5, 1) NOT NULL,
    lon_cell                numeric(5, 1) NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    PRIMARY KEY (hour, country, decision, lat_cell, lon_cell)
);
