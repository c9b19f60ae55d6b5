"""Tasks on a symbol's own queue. Each names the event that woke it and runs the same step."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_shutdown, worker_ready

from mmtasks.celery import CONTROL_QUEUE, app
from mmtasks.messages import CommandEvent
from mmtasks.observability import tag_symbol
from mmtasks.runtime import get_runtime, reset_runtime
from mmtasks.state import wire
from mmtasks.state.store import SymbolStore
from mmtasks.trading.admission import in_fleet
from mmtasks.trading.step import run_step

log = logging.getLogger(__name__)

SYMBOL_TASK = {"ignore_result": True, "acks_late": True, "max_retries": 0}


def _step(symbol: str, trigger: str, *, clear_price_pending: bool = False) -> str:
    """Run the step; return a one-line summary. Nothing keeps it (ignore_result): it shows in
    Celery's `succeeded` line at DEBUG. Text, not a dict: Celery takes the repr of every task's
    result whatever the log level, and a dict's costs ~37 us a task to a string's 3."""
    tag_symbol(symbol.upper())
    result = run_step(
        get_runtime(), symbol.upper(), trigger, clear_price_pending=clear_price_pending
    )
    summary = f"{result.symbol} {result.status or '-'} events={result.events_applied}"
    summary += f" actions={len(result.actions)}"
    return f"{summary} skipped={result.skipped}" if result.skipped else summary


@app.task(name="mmtasks.symbol.on_price", **SYMBOL_TASK)
def on_price(symbol: str) -> str:
    """Trade on the newest price (conflated: the tick is read when the task runs)."""
    # The flag is cleared before the tick is read: a later tick sends a new task, none is lost.
    return _step(symbol, "price", clear_price_pending=True)


@app.task(name="mmtasks.symbol.on_order", **SYMBOL_TASK)
def on_order(symbol: str) -> str:
    """Apply order updates from the inbox, then trade."""
    return _step(symbol, "order")


@app.task(name="mmtasks.symbol.on_candle", **SYMBOL_TASK)
def on_candle(symbol: str) -> str:
    """Apply candles from the inbox (volume monitor, ATR), then trade."""
    return _step(symbol, "candle")


@app.task(name="mmtasks.symbol.on_command", **SYMBOL_TASK)
def on_command(symbol: str) -> str:
    """Apply admin commands from the inbox in order with trading events."""
    return _step(symbol, "command")


@app.task(name="mmtasks.symbol.drain", **SYMBOL_TASK)
def drain(symbol: str) -> str:
    """Process whatever the inbox holds after the cursor (sweeper, lost-message cover)."""
    return _step(symbol, "drain")


@app.task(name="mmtasks.symbol.reconcile", **SYMBOL_TASK)
def reconcile(symbol: str, reason: str = "requested") -> str:
    """Reconcile with the exchange, in order with the symbol's events, then trade."""
    symbol, rt = symbol.upper(), get_runtime()
    tag_symbol(symbol)
    if not in_fleet(rt, symbol, "reconcile"):  # before the append: no key for a stranger
        return f"{symbol} skipped=symbol not in the fleet"
    SymbolStore(rt.redis, symbol).append(
        CommandEvent(symbol=symbol, command="reconcile", issued_by=reason).model_dump(mode="json")
    )
    return _step(symbol, "reconcile")


@app.task(name="mmtasks.symbol.ping", **SYMBOL_TASK)
def ping(symbol: str, stamp: float = 0.0, round_trips: int = 0) -> float:
    """Do nothing and return stamp: the baseline cost of one task on a symbol queue, delivered
    as the symbol's own tasks are (acknowledged late, never retried). With round_trips, first
    make that many Redis round trips (PING, sent as a step sends its own: state/wire.py) and
    nothing else: the floor of a step that makes them (bench/bench_worker.py)."""
    if round_trips:
        client = get_runtime().redis
        for _ in range(min(round_trips, 10)):
            wire.send(client, [("PING",)])
    return stamp


@worker_ready.connect
def freeze_on_start(**_: Any) -> None:
    """Take start-up objects out of every later full collection (see docs/operations.md)."""
    import gc

    gc.collect()
    gc.freeze()


@worker_ready.connect
def reconcile_on_start(sender: Any = None, **_: Any) -> None:
    """Enqueue a reconcile for every symbol queue this worker consumes."""
    try:
        queues = [q.name for q in sender.task_consumer.queues]
    except AttributeError:
        return
    for name in queues:
        if name in (CONTROL_QUEUE, "celery") or name.startswith("celery"):
            continue
        app.send_task(
            "mmtasks.symbol.reconcile",
            args=[name.upper(), "worker start"],
            queue=name,
            ignore_result=True,
        )
        log.info("worker start: reconcile enqueued for %s", name.upper())


@worker_process_shutdown.connect
def close_connections(**_: Any) -> None:
    """Close this process's connections on shutdown."""
    reset_runtime()
