"""A step's reads and writes: the fenced commit, the trade book reconcile asks, failures.

Every write to a symbol's state goes through the fenced commit (state/commit.lua, with the token
the step holds): `commit`, a failed step's bookkeeping, and the step's last write when it sends
nothing, which `record_and_let_go` sends with the let-go (state/commit_let_go.lua).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mmtasks.errors import DependencyError, Response, policy_for
from mmtasks.events import relay
from mmtasks.grid.models import Position as CorePosition
from mmtasks.ledger import known_trade_ids, ledger_position
from mmtasks.metrics import step_calls
from mmtasks.risk.engine import record_latency
from mmtasks.runtime import Runtime
from mmtasks.state import wire
from mmtasks.state.keys import (
    OUTBOX_MAXLEN,
    SYMBOLS,
    TRADES_KEPT,
    keys_for,
    state_fields,
    state_mapping,
)
from mmtasks.state.store import SymbolStore, WriteBatch
from mmtasks.trading import advance
from mmtasks.trading.effects import Effects
from mmtasks.trading.reconcile import TradeBook
from mmtasks.trading.snapshot import Snapshot, diff_batch, rebase

log = logging.getLogger(__name__)
T = TypeVar("T")


def commit(store: SymbolStore, token: str, snap: Snapshot, fx: Effects) -> Snapshot:
    """Write fx atomically under the lock with the fills and events it produced."""
    batch = write_batch(store, snap, fx)
    announce(store, fx, store.commit(token, batch))
    return committed(snap, fx)


@dataclass(frozen=True)
class LastWrite:
    """A step's last commit, held back to go with its let-go in one round trip
    (`record_and_let_go`): a step that sends nothing needs no round trip of its own."""

    batch: WriteBatch
    fx: Effects


def write_batch(store: SymbolStore, snap: Snapshot, fx: Effects) -> WriteBatch:
    """Return the fenced writes of fx (the trades cursor it moves is noted in fx.meta)."""
    k = keys_for(store.symbol)
    batch = diff_batch(snap, fx.grid, fx.meta, fx.candles)
    if fx.strategy is not None or fx.risk is not None or fx.exchange is not None:
        batch.hset(k.config, fx.config_fields())
    batch.rpush(k.fills_out, [f.to_json() for f in fx.fills])
    counted = {f.trade_id: f.ts_ms for f in fx.fills} | fx.counted_trades
    if counted:
        batch.zadd(k.trades, counted, TRADES_KEPT)
        newest = max(counted.values())
        if newest > max(snap.record.trades_cursor_ms, int(fx.meta.get("trades_cursor_ms") or 0)):
            batch.hset(k.state, {"trades_cursor_ms": str(newest)})
            fx.meta["trades_cursor_ms"] = str(newest)
    if fx.signal is not None:
        batch.hset(k.signal, {f: v for f, v in fx.signal.items() if snap.raw_signal.get(f) != v})
        batch.hdel(k.signal, [f for f in snap.raw_signal if f not in fx.signal])
    if fx.health is not None:
        batch.hset(k.health, fx.health)
    if fx.band_decided:
        if fx.band is None:
            batch.delete(k.band)
        else:
            batch.hset(k.band, {"lo": fx.band[0], "hi": fx.band[1]})
    batch.events(k.outbox, k.event_seq, fx.events, OUTBOX_MAXLEN)
    return batch


def announce(store: SymbolStore, fx: Effects, first: int) -> None:
    """Log the fills fx committed and relay its events (first: the first one's event_seq)."""
    for fill in fx.fills:
        log.info(
            "filled symbol=%s side=%s price=%s qty=%s fee=%s trade_id=%s client_id=%s "
            "position=%s realized=%s",
            fill.symbol,
            fill.side,
            fill.price,
            fill.qty,
            fill.fee,
            fill.trade_id,
            fill.client_order_id,
            fx.grid.position.qty,
            fx.grid.position.realized_pnl,
        )
    if fx.events:
        with contextlib.suppress(Exception):  # committed in the outbox; beat relays it later
            relay(store.r, store.symbol, first, fx.events)


def committed(snap: Snapshot, fx: Effects) -> Snapshot:
    """Return snap as it is in Redis once fx is committed."""
    new = rebase(snap, fx.grid, fx.meta, fx.candles)
    new.raw_signal = snap.raw_signal if fx.signal is None else fx.signal
    new.raw_health = snap.raw_health if fx.health is None else fx.health
    if fx.strategy is not None:
        new.strategy = fx.strategy
    if fx.risk is not None:
        new.risk = fx.risk
    if fx.exchange is not None:
        new.exchange = fx.exchange
    return new


def record_failure(
    rt: Runtime, store: SymbolStore, token: str, exc: BaseException, response: Response
) -> None:
    """Record a failed step (advance.failure decides what), fenced by the step's lock token.

    Written with the token the step still holds, like every other write to the state: a
    worker whose lock expired meanwhile writes nothing (the new holder owns the symbol).
    """
    k = store.keys
    try:
        raw = rt.redis.hmget(k.state, ["degraded_since_ms", "retry_count", "status"])
        meta = state_fields(
            {
                f: v.decode() if isinstance(v, bytes) else v
                for f, v in zip(("degraded_since_ms", "retry_count", "status"), raw, strict=True)
                if v is not None
            }
        )
    except Exception as redis_exc:  # Redis is the fault: nothing can be recorded there
        log.warning(
            "%s: step failed and Redis does not answer (%s): %s", store.symbol, redis_exc, exc
        )
        return
    settings = rt.settings
    outcome = advance.failure(
        store.symbol,
        meta,
        exc,
        response,
        int(time.time() * 1000),
        backoff_max_s=settings.retry_backoff_max_s,
        degraded_to_error_s=settings.degraded_to_error_s,
    )
    batch = WriteBatch()
    batch.hset(k.state, state_mapping(outcome.fields))
    batch.delete(k.band)  # a failed step settled nothing: every tick wakes it again
    batch.events(k.outbox, k.event_seq, outcome.events, OUTBOX_MAXLEN)
    with contextlib.suppress(Exception):  # Redis may be the fault itself; or the lock is gone
        first = store.commit(token, batch)
        if outcome.events:
            relay(rt.redis, store.symbol, first, outcome.events)


def trade_book(rt: Runtime, store: SymbolStore) -> TradeBook:
    """Return what reconcile needs to know about trades already counted."""

    def known(ids: list[str], in_ledger: bool) -> set[str]:
        scores = rt.redis.zmscore(store.keys.trades, ids) if ids else []
        found = {tid for tid, score in zip(ids, scores, strict=True) if score is not None}
        if in_ledger:
            found |= from_ledger(rt, lambda conn: known_trade_ids(conn, ids))
        return found

    def ledger() -> tuple[CorePosition, int]:
        return from_ledger(rt, lambda conn: ledger_position(conn, store.symbol))

    return TradeBook(known=known, ledger=ledger)


def from_ledger(rt: Runtime, read: Callable[[Any], T]) -> T:
    """Run read on a ledger connection; a Postgres fault becomes a DependencyError (retry)."""
    try:
        with rt.pg.connection() as conn:
            return read(conn)
    except Exception as exc:
        if policy_for(exc) is Response.RETRY:
            raise DependencyError("postgres", f"the ledger is unavailable: {exc}") from exc
        raise


def record_and_let_go(
    rt: Runtime,
    store: SymbolStore,
    token: str,
    ttl_ms: int,
    step_ms: float,
    tick_to_order_ms: float | None,
    events: list[dict[str, str]],
    last: LastWrite | None = None,
) -> int:
    """Record the step's metrics, write its held-back last commit (`last`) and let go of the
    lock, in one round trip; return let_go's answer (0 released, else drain again). A metrics
    write that fails is not the step's fault; a refused commit raises, the lock kept (its
    metrics are recorded all the same: a refusal, a lost lock or a concurrent write, is rare,
    and the order counts of events the next step applies again may then count twice).
    step_ms is the step's time before this call: with `last`, before its last write."""

    metrics = step_calls(store.symbol, step_ms, tick_to_order_ms, events)
    if last is not None and last.batch:
        first, answer = store.commit_and_let_go(token, last.batch, ttl_ms, metrics)
        announce(store, last.fx, first)
        return answer
    answer = wire.run(rt.redis, [*metrics, store.let_go_call(token, ttl_ms)])[-1]
    if isinstance(answer, Exception):
        raise answer
    return int(answer)


def record_round_trips(rt: Runtime, ms_per_call: float, at_ms: int) -> None:
    """Add the step's connector round trips to the fleet's latency samples (best effort)."""
    with contextlib.suppress(Exception):
        pipe = rt.redis.pipeline(transaction=False)
        record_latency(pipe, ms_per_call, at_ms)
        pipe.execute()


def fleet_membership(
    rt: Runtime, store: SymbolStore, token: str, last: LastWrite | None, leave: bool
) -> None:
    """Take a drained removed symbol out of the fleet set (leave), or put one added again
    back in; the step's held-back last commit (`last`) is written first.

    Under the lock and after the step's commit, so the symbol's own steps, one at a time,
    decide it: a `remove` is applied at once, but the symbol stays in the fleet (streamed,
    woken, consumed) until none of its orders rests."""
    if last is not None:  # what is decided here rests on it
        announce(store, last.fx, store.commit(token, last.batch))
    if not leave:
        rt.redis.sadd(SYMBOLS, store.symbol)
    elif rt.redis.srem(SYMBOLS, store.symbol):
        log.info("symbol left the fleet symbol=%s: removed, no order of it rests", store.symbol)
