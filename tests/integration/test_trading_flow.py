"""A real worker trades a scripted price path on the real connector; ledger equals Redis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.ledger import flush_buffer, summarize
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import keys_for
from tests.integration.conftest import GRID, ledger_rows, redis_position, resting, worker_view
from tests.kit.feed import set_price
from tests.kit.poll import eventually, until_equal

SYMBOL = "GRIDUSDT"
D = Decimal


def position_qty(client: redis_lib.Redis, symbol: str) -> Decimal:
    return D(redis_position(client, symbol).get("qty", "0"))


def test_scripted_path_buys_sells_one_interval_up_and_realizes_pnl(
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    # Arrange: long grid, interval 10, 2 levels, qty 1 (GRID.md's case table), one worker.
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)

    # Act + Assert along 100 -> 89 -> 95 -> 100 (GRID.md: fills BUY 90 then SELL 100).
    def held() -> list[tuple[str, Decimal]]:
        return resting(exchange, SYMBOL)

    def view() -> object:
        return worker_view(redis_client, SYMBOL)

    set_price(sim, redis_client, SYMBOL, "100")
    until_equal(held, [("BUY", D(80)), ("BUY", D(90))], context=view)

    # The worker conflates prices (it acts on the newest tick), so each price of the path is
    # waited for until the worker has acted on it: moved on at once, 95 could replace 89
    # before any step saw it, and 89's BUY 70 would never be placed (levels at 95: 90, 80).
    set_price(sim, redis_client, SYMBOL, "89")
    until_equal(held, [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))], context=view)
    assert position_qty(redis_client, SYMBOL) == 1
    set_price(sim, redis_client, SYMBOL, "95")
    until_equal(held, [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))], context=view)
    closing = [o for o in exchange.open_orders(SYMBOL) if o.side.value == "SELL"]
    assert closing[0].reduce_only and closing[0].quantity == 1

    set_price(sim, redis_client, SYMBOL, "100")
    eventually(lambda: position_qty(redis_client, SYMBOL) == 0)
    until_equal(held, [("BUY", D(70)), ("BUY", D(80)), ("BUY", D(90))], context=view)

    # Realized PnL is (100 - 90) x 1; maker fees are 0.0002 of each fill's notional.
    position = redis_position(redis_client, SYMBOL)
    assert D(position["realized_pnl"]) == D(10)
    assert D(position["fees"]) == D("0.0002") * (90 + 100)
    rows = eventually(lambda: (r := ledger_rows(ledger_url, SYMBOL)) and len(r) == 2 and r)
    assert [(side, price, qty) for _, side, price, qty in rows] == [
        ("BUY", D(90), D(1)),
        ("SELL", D(100), D(1)),
    ]
    with psycopg.connect(ledger_url) as conn:
        summary = summarize(conn, SYMBOL)
    assert (summary.position, summary.realized_pnl, summary.fees) == (
        D(position["qty"]),
        D(position["realized_pnl"]),
        D(position["fees"]),
    )
    exchange_position = [p for p in exchange.positions(SYMBOL) if p.symbol == SYMBOL]
    assert not exchange_position or exchange_position[0].quantity == 0


def test_fills_wait_in_redis_while_postgres_is_down_and_reach_the_ledger_once_later(
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    # Arrange: the worker's Postgres is unreachable (nothing listens on port 1).
    workers([SYMBOL.lower()], env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    set_price(sim, redis_client, SYMBOL, "100")
    eventually(lambda: resting(exchange, SYMBOL) == [("BUY", D(80)), ("BUY", D(90))])

    # Act: a fill happens while the ledger is down.
    set_price(sim, redis_client, SYMBOL, "89")
    eventually(lambda: position_qty(redis_client, SYMBOL) == 1)
    buffered = redis_client.lrange(keys_for(SYMBOL).fills_out, 0, -1)
    from psycopg_pool import ConnectionPool

    with ConnectionPool(ledger_url, min_size=1, max_size=1) as pool:
        flushed = flush_buffer(redis_client, pool, SYMBOL)
        again = flush_buffer(redis_client, pool, SYMBOL)

    # Assert: trading went on, the fill was kept, and it reached the ledger exactly once.
    assert len(buffered) == 1
    assert (flushed, again) == (1, 0)
    assert [(r[1], r[2], r[3]) for r in ledger_rows(ledger_url, SYMBOL)] == [("BUY", D(90), D(1))]
