-- Registry of symbols, append-only audit of admin changes, and the fill ledger.
CREATE TABLE IF NOT EXISTS symbol_registry (
    symbol          text PRIMARY KEY,
    exchange        text NOT NULL DEFAULT 'sim',
    strategy_config jsonb NOT NULL,
    risk_config     jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL DEFAULT 'ACTIVE'
                    CHECK (status IN ('ACTIVE', 'PAUSED', 'REMOVED', 'ERROR')),
    consumer        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS registry_audit (
    id         bigserial PRIMARY KEY,
    symbol     text NOT NULL,
    action     text NOT NULL,
    old_value  jsonb,
    new_value  jsonb,
    task_id    text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS registry_audit_symbol ON registry_audit (symbol, at);

CREATE TABLE IF NOT EXISTS fills (
    trade_id        text PRIMARY KEY,
    symbol          text NOT NULL,
    order_id        text NOT NULL,
    client_order_id text NOT NULL,
    side            text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price           numeric NOT NULL,
    qty             numeric NOT NULL,
    fee             numeric NOT NULL,
    level           numeric,
    closing         boolean NOT NULL,
    ts_ms           bigint NOT NULL,
    inserted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fills_symbol_ts ON fills (symbol, ts_ms);
