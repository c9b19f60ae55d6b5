"""A fleet's state without the fleet: N symbols written to Redis and Postgres with the
production serialisers, for the 50-symbol dashboard test and the web benchmark."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any

import psycopg
import redis as redis_lib

from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.events import EventType, event_fields
from mmtasks.grid.accounting import apply_fill
from mmtasks.grid.models import Candle, Position, Slot, SlotStatus, SymbolRules
from mmtasks.ledger import FillRecord, write_fills
from mmtasks.metrics import record_step
from mmtasks.registry.store import SymbolRow, insert_symbol
from mmtasks.state.codec import candle_to_json
from mmtasks.state.keys import SYMBOLS, keys_for
from tests.web.conftest import write_events

BASES = [
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "ADA",
    "DOGE",
    "AVAX",
    "DOT",
    "LINK",
    "MATIC",
    "LTC",
    "BCH",
    "ATOM",
    "UNI",
    "ETC",
    "XLM",
    "NEAR",
    "APT",
    "ARB",
    "OP",
    "FIL",
    "ICP",
    "HBAR",
    "VET",
    "INJ",
    "SUI",
    "SEI",
    "TIA",
    "RNDR",
    "GRT",
    "AAVE",
    "MKR",
    "SNX",
    "RUNE",
    "FTM",
    "ALGO",
    "EGLD",
    "THETA",
    "SAND",
    "MANA",
    "AXS",
    "FLOW",
    "CHZ",
    "KAVA",
    "ZEC",
    "DASH",
    "COMP",
    "YFI",
    "CRV",
    "LDO",
]
D = Decimal


def symbols_of(n: int) -> list[str]:
    """Return n symbol names quoted in USDT."""
    return [f"{BASES[i % len(BASES)]}{'' if i < len(BASES) else i}USDT" for i in range(n)]


def populate(client: redis_lib.Redis, pg_url: str, n: int, seed: int = 1) -> list[str]:
    """Write n trading symbols (registry rows, state, orders, candles, fills); return them."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    symbols = symbols_of(n)
    with psycopg.connect(pg_url) as conn:
        for symbol in symbols:
            price = D(rng.choice([0.5, 2, 15, 80, 150, 600, 3200, 64000])).quantize(D("0.01"))
            interval = (price * D("0.002")).quantize(D("0.01")) or D("0.01")
            qty = (D(100) / price).quantize(D("0.001")) or D("0.001")
            strategy = {"mode": "neutral", "interval": canon(interval), "order_qty": canon(qty)}
            risk = {"max_position": canon(qty * 6), "kline_interval": "1m"}
            insert_symbol(conn, SymbolRow(symbol, "sim", strategy, risk))
            fills = _write_symbol(client, rng, symbol, price, interval, qty, strategy, risk, now_ms)
            write_fills(conn, fills)
        conn.commit()
    client.sadd(SYMBOLS, *symbols)
    for symbol in symbols:
        write_events(client, symbol, [event_fields(EventType.SYMBOL_ADDED, symbol, {})])
    return symbols


def _write_symbol(
    client: redis_lib.Redis,
    rng: random.Random,
    symbol: str,
    price: Decimal,
    interval: Decimal,
    qty: Decimal,
    strategy: dict[str, Any],
    risk: dict[str, Any],
    now_ms: int,
) -> list[FillRecord]:
    k = keys_for(symbol)
    rules = SymbolRules(
        tick_size=D("0.01"), step_size=D("0.001"), min_qty=D("0.001"), min_notional=D(1)
    )
    fills, position, mark = [], Position(), price
    for i in range(rng.randint(2, 12)):
        side = Side.BUY if i % 2 == 0 or rng.random() < 0.3 else Side.SELL
        fill_price = mark + interval * rng.randint(-3, 3)
        fee = (fill_price * qty * D("0.0002")).quantize(D("0.00000001"))
        position, _ = apply_fill(position, side, fill_price, qty, fee)
        fills.append(
            FillRecord(
                trade_id=f"{symbol}-{i}",
                symbol=symbol,
                order_id=f"o{i}",
                client_order_id=f"c{i}",
                side=side.value,
                price=fill_price,
                qty=qty,
                fee=fee,
                level=fill_price,
                closing=side is Side.SELL,
                ts_ms=now_ms - (12 - i) * 60_000,
            )
        )
    slots = {}
    for step in range(1, 5):
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            level = price + sign * interval * step
            slots[canon(level)] = json.dumps(
                Slot(
                    level=level,
                    status=SlotStatus.LOCKED,
                    side=side,
                    price=level,
                    qty=qty,
                    client_order_id=f"{symbol[:6]}{side.value[0]}{step}",
                    venue_order_id=f"v{step}",
                    closing=side is Side.SELL and step == 1,
                ).to_dict()
            )
    candles = {}
    open_ms = now_ms - now_ms % 60_000 - 40 * 60_000
    close = price
    for _ in range(41):
        high = close + interval * rng.randint(0, 3)
        low = close - interval * rng.randint(0, 3)
        new_close = min(high, max(low, close + interval * rng.randint(-2, 2)))
        candle = Candle(open_ms, close, high, low, new_close, D(rng.randint(1, 90)), True)
        candles[str(open_ms)] = candle_to_json(candle)
        close, open_ms = new_close, open_ms + 60_000
    pipe = client.pipeline(transaction=False)
    pipe.hset(
        k.config,
        mapping={
            "strategy": json.dumps(strategy),
            "risk": json.dumps(risk),
            "rules": json.dumps(rules.to_dict()),
        },
    )
    pipe.hset(
        k.state,
        mapping={
            "status": "ACTIVE",
            "last_seq": "40",
            "anchor": canon(price),
            "last_price": canon(close),
            "last_price_ts_ms": str(now_ms - rng.randint(50, 900)),
            "last_step_ms": str(now_ms),
        },
    )
    pipe.set(k.seq, str(40 + rng.choice([0, 0, 0, 1, 3])))
    pipe.hset(k.position, mapping=position.to_dict())
    pipe.hset(k.slots, mapping=slots)
    pipe.hset(k.candles, mapping=candles)
    pipe.hset(k.tick, mapping={"price": canon(close), "ts_event_ms": str(now_ms), "seq": "1"})
    for _ in range(20):
        record_step(pipe, symbol, rng.uniform(1, 30), rng.uniform(2, 60))
    pipe.execute()
    return fills
