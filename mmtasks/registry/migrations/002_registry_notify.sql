-- Tell the bridge about registry changes (LISTEN mm_registry) so it subscribes to a new symbol
-- and drops a removed one without a restart. A trigger rather than a NOTIFY in each caller, so
-- admin tasks, `mmtasks seed` and manual SQL all notify, and only when the change commits.
-- Payload: {"symbol": "BTCUSDT", "status": "ACTIVE"}.
CREATE OR REPLACE FUNCTION mm_registry_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify(
        'mm_registry', jsonb_build_object('symbol', NEW.symbol, 'status', NEW.status)::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS symbol_registry_notify_insert ON symbol_registry;
CREATE TRIGGER symbol_registry_notify_insert
    AFTER INSERT ON symbol_registry
    FOR EACH ROW EXECUTE FUNCTION mm_registry_notify();

DROP TRIGGER IF EXISTS symbol_registry_notify_status ON symbol_registry;
CREATE TRIGGER symbol_registry_notify_status
    AFTER UPDATE ON symbol_registry
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mm_registry_notify();

-- Audit rows are looked up by the admin task that wrote them ("what did task X change?").
CREATE INDEX IF NOT EXISTS registry_audit_task_id
    ON registry_audit (task_id) WHERE task_id IS NOT NULL;
