"""The registry in real Postgres: migrations, rows with versions, audit, NOTIFY to the bridge."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from mmtasks.registry import store
from mmtasks.registry.migrate import migrate, migration_files
from tests.kit.configs import GRID


@pytest.fixture
def registry_url(pg_url: str) -> str:
    migrate(pg_url)
    return pg_url


def unique_symbol() -> str:
    # NOTIFY channels are database-wide: a name of our own ignores other test runs' rows.
    return f"T{uuid.uuid4().hex[:10].upper()}"


def test_migrate_applies_each_migration_once(pg_url: str) -> None:
    first = migrate(pg_url)
    second = migrate(pg_url)

    assert first == [name for _, name, _ in migration_files()]
    assert first[:2] == ["001_init.sql", "002_registry_notify.sql"]  # in version order
    assert second == []


def test_insert_and_status_change_notify_the_bridge_but_a_config_change_does_not(
    registry_url: str,
) -> None:
    symbol = unique_symbol()
    with psycopg.connect(registry_url, autocommit=True) as listener:
        [(schema,)] = listener.execute("SELECT current_schema()").fetchall()
        listener.execute("LISTEN mm_registry")
        with psycopg.connect(registry_url) as conn:
            store.insert_symbol(conn, store.SymbolRow(symbol, "sim", GRID, {}))
        with psycopg.connect(registry_url) as conn:
            store.set_config(conn, symbol, {**GRID, "interval": "20"}, {}, expected_version=1)
            store.set_status(conn, symbol, store.RegistryStatus.PAUSED)

        ours = []  # the channel is database-wide: other test runs' rows are heard too
        for note in listener.notifies(timeout=5):
            payload = json.loads(note.payload)
            if payload["symbol"] == symbol:
                ours.append(payload)
            if len(ours) == 2:
                break

    assert ours == [
        {"symbol": symbol, "status": "ACTIVE", "schema": schema},
        {"symbol": symbol, "status": "PAUSED", "schema": schema},
    ]


def test_rolled_back_change_notifies_nobody(registry_url: str) -> None:
    symbol = unique_symbol()
    with psycopg.connect(registry_url, autocommit=True) as listener:
        listener.execute("LISTEN mm_registry")
        with psycopg.connect(registry_url) as conn:
            store.insert_symbol(conn, store.SymbolRow(symbol, "sim", GRID, {}))
            conn.rollback()

        payloads = [json.loads(n.payload) for n in listener.notifies(timeout=0.5)]

    assert [p for p in payloads if p["symbol"] == symbol] == []


def test_insert_leaves_an_existing_row_alone(registry_url: str) -> None:
    with psycopg.connect(registry_url) as conn:
        first = store.insert_symbol(conn, store.SymbolRow("BTCUSDT", "sim", GRID, {}))
        second = store.insert_symbol(
            conn, store.SymbolRow("BTCUSDT", "sim", {**GRID, "interval": "99"}, {})
        )
        row = store.get_symbol(conn, "BTCUSDT")

    assert first is not None and second is None
    assert row is not None and row.strategy == GRID and row.version == 1


def test_set_config_bumps_the_version_and_refuses_a_stale_one(registry_url: str) -> None:
    with psycopg.connect(registry_url) as conn:
        store.insert_symbol(conn, store.SymbolRow("BTCUSDT", "sim", GRID, {}))
        updated = store.set_config(conn, "BTCUSDT", {**GRID, "interval": "20"}, {}, 1)
        stale = store.set_config(conn, "BTCUSDT", {**GRID, "interval": "30"}, {}, 1)

    assert updated is not None and updated.version == 2
    assert updated.strategy["interval"] == "20"
    assert stale is None


def test_readd_only_brings_back_a_removed_row(registry_url: str) -> None:
    with psycopg.connect(registry_url) as conn:
        store.insert_symbol(conn, store.SymbolRow("BTCUSDT", "sim", GRID, {}))
        while_active = store.insert_symbol(
            conn, store.SymbolRow("BTCUSDT", "sim", GRID, {}), readd=True
        )
        store.set_status(conn, "BTCUSDT", store.RegistryStatus.REMOVED)
        readded = store.insert_symbol(
            conn, store.SymbolRow("BTCUSDT", "sim", GRID, {"max_position": "1"}), readd=True
        )

    assert while_active is None
    assert readded is not None
    assert (readded.status, readded.version, readded.risk) == ("ACTIVE", 2, {"max_position": "1"})


def test_audit_is_append_only_history_with_task_ids(registry_url: str) -> None:
    with psycopg.connect(registry_url) as conn:
        store.append_audit(conn, "BTCUSDT", "add_symbol", None, {"status": "ACTIVE"}, "t1")
        store.append_audit(
            conn,
            store.FLEET_SUBJECT,
            "halt",
            {"state": "ACTIVE"},
            {"state": "HALTED", "reason": "drill"},
            "t2",
        )
        rows = store.audit_rows(conn)

    assert [(r["symbol"], r["action"], r["task_id"]) for r in rows] == [
        ("BTCUSDT", "add_symbol", "t1"),
        ("*", "halt", "t2"),
    ]
    assert rows[1]["new_value"] == {"state": "HALTED", "reason": "drill"}
