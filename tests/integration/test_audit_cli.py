"""`mmtasks audit` on a running fleet: agreement first, then a fill deleted from the ledger is
reported by symbol and trade id (and the PnL it changes), with exit status 1.

A real worker, connector and bridge trade GRID.md's path 100 -> 89 (BUY 90 fills: long 1 at
90). The audit runs as an operator would run it, `python -m mmtasks.cli audit`, with the fleet's
environment; the symbol is in the registry as `mmtasks add` would have put it there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import psycopg
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.registry import store
from mmtasks.registry.symbol_commands import init_symbol
from tests.integration.conftest import GRID, ledger_rows, redis_position, resting
from tests.kit.feed import set_price
from tests.kit.poll import eventually, until_equal

SYMBOL = "GRIDUSDT"
D = Decimal


def audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmtasks.cli", "audit", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_audit_agrees_on_a_trading_fleet_and_names_a_fill_deleted_from_the_ledger(
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
    fleet_env: dict[str, str],
) -> None:
    # Arrange: GRIDUSDT registered and trading; at 89 its BUY 90 fills (long 1).
    with psycopg.connect(ledger_url) as conn:
        store.insert_symbol(conn, store.SymbolRow(SYMBOL, "sim", GRID, {}))
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    set_price(sim, redis_client, SYMBOL, "100")
    until_equal(lambda: resting(exchange, SYMBOL), [("BUY", D(80)), ("BUY", D(90))])
    set_price(sim, redis_client, SYMBOL, "89")
    until_equal(
        lambda: resting(exchange, SYMBOL), [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    )
    rows = eventually(lambda: ledger_rows(ledger_url, SYMBOL))
    assert D(redis_position(redis_client, SYMBOL)["qty"]) == 1
    [(trade_id, *_)] = rows

    # Act 1: the audit of the whole registry on the settled fleet.
    agreed = audit(fleet_env, "--settle", "30")

    # Assert 1: it agrees, and says so.
    assert agreed.returncode == 0, agreed.stdout + agreed.stderr
    assert SYMBOL in agreed.stdout and "all agree" in agreed.stdout

    # Act 2: the fill disappears from the ledger (a hand-made DELETE, a restore gone wrong).
    with psycopg.connect(ledger_url) as conn:
        conn.execute("DELETE FROM fills WHERE trade_id = %s", (trade_id,))
    found = audit(fleet_env, SYMBOL, "--json")

    # Assert 2: exit 1; the report names the symbol, the missing trade and the PnL that no
    # longer folds (Redis holds the fee of the BUY 90, the ledger now none).
    assert found.returncode == 1, found.stdout + found.stderr
    [report] = json.loads(found.stdout)
    assert report["symbol"] == SYMBOL and report["ok"] is False
    problems = "\n".join(report["problems"])
    assert f"exchange trades missing from the ledger: ['{trade_id}']" in problems
    assert "fees=0.018" in problems and "fold realized_pnl=0 fees=0" in problems
