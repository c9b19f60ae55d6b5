"""Hostile inputs: admin calls and symbol-queue messages an operator's typo or an attacker sends.

Every admin call built here must be refused (`{"ok": false, ...}`): symbols are never a
symbol of the fleet except in `update_symbol`, whose configs are absurd (1e30, nulls, NUL
bytes), and `halt` gets no reason a careful implementation would accept.
"""

from __future__ import annotations

import random
from typing import Any

HUGE = 10**30
LONG = "x" * 10_000
VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    HUGE,
    -HUGE,
    1e308,
    "NaN",
    "inf",
    "1e30",
    "-5",
    "",
    "\x00",
    "a\x00b",
    LONG,
    [],
    {},
    [1, 2],
    {"a": None},
    "ZZZUSDT",
    "' OR 1=1 --",
    "\u202e\U0001f680",
]
BAD_SYMBOLS: list[Any] = [
    "ZZZUSDT",
    "NOPEUSDT",
    "",
    "BTC\x00USDT",
    LONG,
    None,
    123,
    [],
    {"symbol": "BTCUSDT"},
    "btc usdt",
    "../../etc",
    "\n",
]
STRATEGY_KEYS = ["interval", "buy_levels", "sell_levels", "order_qty", "order_notional", "mode"]
RISK_KEYS = ["max_position", "max_open_orders", "stale_after_s"]
ABSURD: list[Any] = [None, "1e30", 10**30, "-1", 0, "\x00", LONG, [], {}, "NaN", True, -(10**30)]
TASKS = [
    "add_symbol",
    "remove_symbol",
    "pause_symbol",
    "resume_symbol",
    "update_symbol",
    "halt",
    "resume",
    "status",
    "list_symbols",
    "rehydrate",
]
Call = tuple[str, list[Any], dict[str, Any]]


def _config(rng: random.Random, keys: list[str]) -> Any:
    if rng.random() < 0.2:
        return rng.choice(VALUES)
    return {rng.choice(keys): rng.choice(ABSURD) for _ in range(rng.randint(1, 3))}


def admin_call(rng: random.Random, symbols: list[str]) -> Call:
    """Return one hostile admin call (task, args, kwargs)."""
    task = rng.choice(TASKS)
    bad = rng.choice(BAD_SYMBOLS)
    if task == "update_symbol":
        symbol = rng.choice([*symbols, bad])
        kwargs = {"symbol": symbol, rng.choice(["strategy", "risk"]): None}
        kwargs["strategy" if "strategy" in kwargs else "risk"] = _config(
            rng, STRATEGY_KEYS if "strategy" in kwargs else RISK_KEYS
        )
        return task, [], kwargs
    if task == "add_symbol":
        return task, [], {"symbol": bad, "strategy": _config(rng, STRATEGY_KEYS)}
    if task in ("remove_symbol", "pause_symbol", "resume_symbol", "status"):
        if task == "status" and rng.random() < 0.5:
            return task, [], {rng.choice(["bogus", "symbol\x00", LONG[:50]]): rng.choice(VALUES)}
        return (
            task,
            ([bad] if rng.random() < 0.5 else []),
            ({} if rng.random() < 0.5 else {"symbol": bad}),
        )
    if task == "halt":
        reason: Any = rng.choice([None, 1, [], {}, "\x00", "stop\x00now", LONG + "\x00", HUGE])
        return task, [], {"reason": reason}
    shape = rng.random()
    if shape < 0.4:
        return task, [rng.choice(VALUES) for _ in range(rng.randint(1, 3))], {}
    return task, [], {rng.choice(["bogus", "reason", "include_removed"]): rng.choice(VALUES)}


def admin_calls(rng: random.Random, symbols: list[str], count: int) -> list[Call]:
    """Return count hostile admin calls."""
    return [admin_call(rng, symbols) for _ in range(count)]


SYMBOL_TASKS = [
    "mmtasks.symbol.on_price",
    "mmtasks.symbol.on_order",
    "mmtasks.symbol.on_candle",
    "mmtasks.symbol.on_command",
    "mmtasks.symbol.drain",
    "mmtasks.symbol.reconcile",
]


def symbol_task_garbage(
    rng: random.Random, symbols: list[str], count: int
) -> list[tuple[str, list[Any], dict[str, Any], str]]:
    """Return count (task, args, kwargs, queue): garbage on the fleet's symbol queues."""
    out = []
    for _ in range(count):
        queue = rng.choice(symbols).lower()
        shape = rng.random()
        if shape < 0.5:
            args: list[Any] = [rng.choice(BAD_SYMBOLS)]
        elif shape < 0.7:
            args = [rng.choice(VALUES) for _ in range(rng.randint(0, 4))]
        elif shape < 0.85:
            args = [queue.upper(), *[rng.choice(VALUES) for _ in range(rng.randint(1, 3))]]
        else:
            args = []
        kwargs = {"bogus": rng.choice(VALUES)} if rng.random() < 0.2 else {}
        out.append((rng.choice(SYMBOL_TASKS), args, kwargs, queue))
    return out


def inbox_garbage(
    rng: random.Random, symbols: list[str], count: int
) -> list[tuple[str, dict[str, Any]]]:
    """Return count (symbol, payload): inbox events that are malformed or name no order of ours."""
    out = []
    for _ in range(count):
        symbol = rng.choice(symbols)
        kind = rng.choice(["order", "candle", "command", "nonsense", None])
        payload: dict[str, Any] = {"kind": kind}
        for key in rng.sample(
            ["symbol", "status", "executed_qty", "client_order_id", "open_ms", "command", "args"],
            rng.randint(0, 4),
        ):
            payload[key] = rng.choice([*VALUES, symbol])
        if rng.random() < 0.2:  # well formed, but an order nobody here placed
            payload = {
                "kind": "order",
                "symbol": symbol,
                "order_id": "ghost-1",
                "client_order_id": "notours123",
                "status": "FILLED",
                "executed_qty": "1",
            }
        out.append((symbol, payload))
    return out
