"""`mmtasks seed` and `mmtasks migrate`: idempotent, validated before any write, clear output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mmtasks.errors import ValidationError
from mmtasks.registry import store
from mmtasks.registry.migrate import migrate, migration_files
from mmtasks.registry.seed import parse_seed, seed

ROOT = Path(__file__).resolve().parents[2]
GRID = {"interval": "10", "order_qty": "1"}


def mmtasks_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmtasks.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )


def test_seed_inserts_missing_symbols_and_leaves_existing_ones_alone(pg_url: str) -> None:
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        store.insert_symbol(
            conn, store.SymbolRow("BTCUSDT", "sim", {**GRID, "interval": "99"}, {}, "PAUSED")
        )

    first = mmtasks_cli("seed", "configs/symbols.yaml", database_url=pg_url)
    second = mmtasks_cli("seed", "configs/symbols.yaml", database_url=pg_url)

    assert first.returncode == 0, first.stderr
    assert "inserted ETHUSDT" in first.stdout and "left alone BTCUSDT" in first.stdout
    assert "0 inserted, 2 already present" in second.stdout
    with psycopg.connect(pg_url) as conn:
        rows = {r.symbol: r for r in store.list_symbols(conn)}
        audit = [(a["symbol"], a["action"]) for a in store.audit_rows(conn)]
    assert rows["BTCUSDT"].strategy["interval"] == "99" and rows["BTCUSDT"].status == "PAUSED"
    assert rows["ETHUSDT"].strategy["order_qty"] == "0.02" and rows["ETHUSDT"].status == "ACTIVE"
    assert audit == [("ETHUSDT", "seed")]


def test_seed_with_a_bad_entry_names_it_and_writes_nothing(pg_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "symbols.yaml"
    bad.write_text(
        "symbols:\n  AAAUSDT:\n    strategy: {interval: '1', order_qty: '1'}\n"
        "  BBBUSDT:\n    strategy: {interval: '-1', order_qty: '1'}\n"
    )

    result = mmtasks_cli("seed", str(bad), database_url=pg_url)

    assert result.returncode == 2
    assert "symbols.BBBUSDT: strategy: interval must be > 0, received -1" in result.stderr
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert store.list_symbols(conn) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"symbols": {"BTC-USD": {"strategy": GRID}}}, "symbol must be 2-20 letters"),
        (
            {"symbols": {"BTCUSDT": {"strategy": GRID, "exchange": "ftx"}}},
            "exchange must be one of sim, binanceusdm, binance, received 'ftx'",
        ),
        (
            {"symbols": {"BTCUSDT": {"strategy": GRID, "colour": "red"}}},
            "unknown argument 'colour'",
        ),
        (
            {"symbols": {"BTCUSDT": {"strategy": {**GRID, "levels": 3}}}},
            "strategy: unknown field 'levels'",
        ),
        (
            {"symbols": {"BTCUSDT": {"strategy": GRID, "risk": {"stale_after_s": 0}}}},
            "risk: stale_after_s must be >= 1, received 0",
        ),
        (
            {"symbols": {"BTCUSDT": {"strategy": {"interval": 1.5, "order_qty": "1"}}}},
            "interval must be a decimal string, received float 1.5",
        ),
        (["BTCUSDT"], "expected a mapping with a 'symbols' mapping"),
    ],
)
def test_parse_seed_names_the_entry_and_the_problem(document: object, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_seed(document, "f.yaml")

    assert message in str(err.value)


def test_seed_stores_normalised_configs(pg_url: str) -> None:
    migrate(pg_url)
    rows = parse_seed({"symbols": {"btcusdt": {"strategy": GRID}}}, "f.yaml")
    with psycopg.connect(pg_url) as conn:
        report = seed(conn, rows)
        record = store.get_symbol(conn, "BTCUSDT")

    assert report.inserted == ["BTCUSDT"]
    assert record is not None and record.strategy["buy_levels"] == 10
    assert record.risk["stale_after_s"] == 60


def test_migrate_command_reports_what_it_applied(pg_url: str) -> None:
    first = mmtasks_cli("migrate", database_url=pg_url)
    second = mmtasks_cli("migrate", database_url=pg_url)

    names = [name for _, name, _ in migration_files()]
    assert first.stdout.strip() == f"applied {', '.join(names)}"
    assert second.stdout.strip() == "registry schema is up to date"


def test_help_lists_the_commands_and_an_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mmtasks.cli", "--help"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0
    assert "migrate" in result.stdout and "seed" in result.stdout
    assert "mmtasks seed configs/symbols.yaml" in result.stdout


def test_a_fleet_run_inits_only_the_symbols_it_registered(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: an earlier run of the same data folder registered BTCUSDT; an operator paused it.
    from mmtasks.run.symbols import seed_registry

    migrate(pg_url)
    config = {"BTCUSDT": {"strategy": GRID}, "ETHUSDT": {"strategy": GRID}}
    assert seed_registry(pg_url, {"BTCUSDT": config["BTCUSDT"]}) == ["BTCUSDT"]
    with psycopg.connect(pg_url) as conn:
        store.set_status(conn, "BTCUSDT", "PAUSED")

    # Act: the fleet starts again with both in its config.
    registered = seed_registry(pg_url, config)

    # Assert: only the new symbol is registered (so only it gets an `init`, which would make a
    # paused symbol trade); the paused one keeps its row, and the run says how to change it.
    assert registered == ["ETHUSDT"]
    with psycopg.connect(pg_url) as conn:
        rows = {r.symbol: r for r in store.list_symbols(conn)}
    assert rows["BTCUSDT"].status == "PAUSED" and rows["ETHUSDT"].status == "ACTIVE"
    assert "mmtasks update SYMBOL" in capsys.readouterr().out
