-- Rules and lists (docs/RULES.md). A rule's versions are immutable: a change is a new
-- version. Its lifecycle (draft -> shadow -> live -> retired) is an append-only trail of
-- changes, each with who made it and why; promotion to live names a second person.
CREATE TABLE fraud_rule_versions (
    rule_id         text NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    family          text NOT NULL,
    action          text NOT NULL CHECK (action IN ('block', 'allow', 'decline', 'review', 'adjust')),
    priority        integer NOT NULL,
    expression      text NOT NULL,
    reason          text NOT NULL,
    adjustment      double precision,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    why             text NOT NULL,
    PRIMARY KEY (rule_id, version)
);

CREATE TABLE fraud_rule_changes (
    change_id       bigserial PRIMARY KEY,
    rule_id         text NOT NULL,
    version         integer NOT NULL,
    state           text NOT NULL CHECK (state IN ('draft', 'shadow', 'live', 'retired')),
    changed_by      text NOT NULL,
    approved_by     text,                   -- the second name a promotion to live needs
    why             text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (rule_id, version) REFERENCES fraud_rule_versions (rule_id, version),
    CHECK (state <> 'live' OR (approved_by IS NOT NULL AND approved_by <> changed_by))
);
CREATE INDEX fraud_rule_changes_rule_idx ON fraud_rule_changes (rule_id, version, change_id);

-- Named, typed lists. Each change (an entry added or removed, or a whole import) is a new
-- version of its list; the entries of a version are what its changes leave.
CREATE TABLE fraud_lists (
    name            text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('card', 'merchant', 'device', 'ip', 'user')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    why             text NOT NULL
);

CREATE TABLE fraud_list_changes (
    change_id       bigserial PRIMARY KEY,
    name            text NOT NULL REFERENCES fraud_lists (name),
    version         integer NOT NULL CHECK (version >= 1),
    op              text NOT NULL CHECK (op IN ('add', 'remove')),
    value           text NOT NULL,
    expires_at      timestamptz,
    note            text,
    changed_by      text NOT NULL,
    why             text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fraud_list_changes_value_idx ON fraud_list_changes (name, value, change_id);

-- Every ruleset document published, in order: its version names it in every event.
CREATE TABLE fraud_ruleset_publications (
    version         integer PRIMARY KEY,
    published_by    text NOT NULL,
    published_at    timestamptz NOT NULL DEFAULT now(),
    document_sha256 text NOT NULL,
    target          text NOT NULL,
    rules           integer NOT NULL,
    list_versions   jsonb NOT NULL
);

-- What the rules did to each event: the ruleset version, the fired live and shadow rules
-- with the values they saw, and the models' reasons (reviews and declines). NULL for
-- events scored before rules.
ALTER TABLE fraud_predictions ADD COLUMN ruleset_version text;
ALTER TABLE fraud_predictions ADD COLUMN rules jsonb;
ALTER TABLE fraud_predictions ADD COLUMN reasons jsonb;

-- Hits per rule version, live and shadow, by the minute and the hour, maintained like the
-- other rollups from the rows each batch inserted. `changed_decisions`: a live rule's hits
-- that decided otherwise than the model alone; a shadow rule's hits where the shadow
-- decision differs from the live one.
CREATE TABLE fraud_rule_hit_rollups (
    minute              timestamptz NOT NULL,
    rule_id             text NOT NULL,
    rule_version        integer NOT NULL,
    shadow              boolean NOT NULL,
    hits                bigint NOT NULL,
    changed_decisions   bigint NOT NULL,
    PRIMARY KEY (minute, rule_id, rule_version, shadow)
);
CREATE TABLE fraud_rule_hit_hour_rollups (
    hour                timestamptz NOT NULL,
    rule_id             text NOT NULL,
    rule_version        integer NOT NULL,
    shadow              boolean NOT NULL,
    hits                bigint NOT NULL,
    changed_decisions   bigint NOT NULL,
    PRIMARY KEY (hour, rule_id, rule_version, shadow)
);
