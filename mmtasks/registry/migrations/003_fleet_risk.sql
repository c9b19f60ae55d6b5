-- The fleet's risk config, its state and what must survive a restart of every process: the
-- equity high-water mark and the start of the UTC day. One row (id = 1); changes to config and
-- state are audited in registry_audit with symbol '*'.
CREATE TABLE IF NOT EXISTS fleet_risk (
    id               smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    config           jsonb NOT NULL DEFAULT '{}'::jsonb,
    state            text NOT NULL DEFAULT 'ACTIVE'
                     CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    set_by_operator  boolean NOT NULL DEFAULT false,
    reason           text NOT NULL DEFAULT '',
    high_water       numeric,
    day              date,
    day_start_equity numeric,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1
);
INSERT INTO fleet_risk (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
