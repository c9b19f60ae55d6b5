-- Registry notifications name their schema: NOTIFY channels are per database, so fleets (or test
-- runs) that share a database in different schemas hear each other; a listener keeps its own.
-- Payload: {"symbol": "BTCUSDT", "status": "ACTIVE", "schema": "public"}.
CREATE OR REPLACE FUNCTION mm_registry_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify(
        'mm_registry',
        jsonb_build_object(
            'symbol', NEW.symbol, 'status', NEW.status, 'schema', TG_TABLE_SCHEMA
        )::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
