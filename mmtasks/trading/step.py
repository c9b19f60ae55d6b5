"""One step of a symbol: drain its inbox in seq order, reconcile if needed, decide, execute.

Every task on a symbol queue runs this same step (the task's name says what woke it), so a
message that arrives late, twice or out of order changes nothing: the inbox and the cursor
decide what is applied, and the cursor moves in the same fenced write as the state.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pydantic

from mmtasks.celery import app
from mmtasks.enqueue import wake
from mmtasks.errors import LockLostError, OperationalError, Response, policy_for
from mmtasks.grid.models import Action, GridConfig, PlaceOrder
from mmtasks.kinds import StrategyConfig, kind_of
from mmtasks.ledger import flush_buffer
from mmtasks.messages import parse_inbox_event
from mmtasks.runtime import Runtime
from mmtasks.state.codec import KEPT_ON_FAILURE, SymbolStatus
from mmtasks.state.keys import keys_for
from mmtasks.state.store import InboxEntry, SymbolStore
from mmtasks.trading import advance, persist
from mmtasks.trading.admission import check_beat, in_fleet, recheck_in, well_formed
from mmtasks.trading.advance import Gate, KindDecision
from mmtasks.trading.effects import Effects
from mmtasks.trading.executor import execute
from mmtasks.trading.reconcile import reconcile
from mmtasks.trading.signal_step import rejected_ids, signal_decision
from mmtasks.trading.snapshot import Snapshot, load_snapshot
from mmtasks.venue import Venue

log = logging.getLogger(__name__)

INBOX_BATCH = 500
MAX_ROUNDS = 50  # drains in a row under one lock before the thread is given back
LET_GO_PRICE = 2  # let_go's answer for a price wake left while the step ran


@dataclass(frozen=True)
class KindShell:
    """What the shell does for a strategy kind beyond `advance.decide_step` (which dispatches
    the decision itself): build a pipeline's decision with the venue, pass on refusals."""

    pipeline: Callable[[Venue, Snapshot, Effects, Gate, int], KindDecision | None] | None = None
    hears_refusals: bool = False  # the pipeline learns of the executor's refusals next step


# By the kind's name (mmtasks/kinds); a symbol with no strategy yet steps as a grid.
SHELLS: dict[str, KindShell] = {
    "grid": KindShell(),
    "signal": KindShell(signal_decision, hears_refusals=True),
}


def _shell(strategy: StrategyConfig | None) -> KindShell:
    return SHELLS[kind_of(strategy).name if strategy is not None else "grid"]


@dataclass
class StepResult:
    symbol: str
    trigger: str
    status: str = ""
    events_applied: int = 0
    actions: list[Action] = field(default_factory=list)
    skipped: str = ""
    tick_to_order_ms: float | None = None
    events: list[dict[str, str]] = field(default_factory=list)
    last: persist.LastWrite | None = None  # the last commit, to go with the let-go


def now_ms() -> int:
    return int(time.time() * 1000)


def run_step(
    rt: Runtime, symbol: str, trigger: str, *, clear_price_pending: bool = False
) -> StepResult:
    """Run one step for symbol under its lock; a failure is answered as its class says.

    Temporary faults (connector, Redis, Postgres) make the symbol DEGRADED and are retried with
    capped exponential backoff; only an operational error, or a temporary one that outlasts
    `degraded_to_error_s`, moves the symbol to ERROR (errors.policy_for decides which is which).
    """
    if not in_fleet(rt, symbol, trigger):
        if clear_price_pending and well_formed(symbol):  # DEL never creates a key
            rt.redis.delete(keys_for(symbol).price_pending)
        return StepResult(symbol, trigger, skipped="symbol not in the fleet")
    store = SymbolStore(rt.redis, symbol)
    ttl_ms = rt.settings.lock_ttl_ms
    taken = store.take_or_wake(ttl_ms, price=clear_price_pending, inbox=INBOX_BATCH)
    if taken.quiet:  # the newest price is inside the settled band: the grid decides the same
        return StepResult(symbol, trigger, skipped="quiet: the price is inside the quiet band")
    token = taken.token
    if token is None:
        if clear_price_pending:  # or no price task would be sent until the flag expires
            rt.redis.delete(store.keys.price_pending)
        recheck_ms = recheck_in(symbol, taken)
        if recheck_ms:  # the holder may have died: look again once its lock has expired
            wake(app, symbol, countdown_s=recheck_ms / 1000 + 0.2)
        return StepResult(symbol, trigger, skipped="coalesced: the lock's holder drains again")
    held = True
    try:
        result = StepResult(symbol, trigger)
        read = taken.snapshot  # the first round's snapshot came with the lock
        for _ in range(MAX_ROUNDS):
            started = time.perf_counter()
            result = _locked_step(rt, store, token, trigger, clear_price_pending, read)
            read = None
            step_ms = (time.perf_counter() - started) * 1000
            check_beat(rt)
            again = persist.record_and_let_go(
                rt,
                store,
                token,
                ttl_ms,
                step_ms,
                result.tick_to_order_ms,
                result.events,
                result.last,
            )
            if not again:
                held = False
                return result
            clear_price_pending = again == LET_GO_PRICE  # woken while stepping: drain again
        wake(app, symbol)  # busy all along: the thread goes back to the pool, a task carries on
        return result
    except LockLostError:
        log.error("%s: lock lost mid-step; nothing more written by this step", symbol)
        raise
    except Exception as exc:
        response = policy_for(exc)
        persist.record_failure(rt, store, token, exc, response)
        if response in (Response.RETRY, Response.AMBIGUOUS):
            return StepResult(symbol, trigger, status="DEGRADED", skipped=f"degraded: {exc}")
        raise
    finally:
        if held:
            with contextlib.suppress(Exception):  # Redis may be the fault; the lock then expires
                if store.let_go(token, 0):  # woken while failing: a task for that wake
                    wake(app, symbol)


def _locked_step(
    rt: Runtime, store: SymbolStore, token: str, trigger: str, price: bool, read: object
) -> StepResult:
    symbol = store.symbol
    result = StepResult(symbol, trigger)
    snap = load_snapshot(
        rt.redis, symbol, clear_price_pending=price, inbox_count=INBOX_BATCH, read=read
    )
    if snap.config_error and snap.status not in KEPT_ON_FAILURE:
        raise OperationalError(snap.config_error)
    was_removed = snap.status == SymbolStatus.REMOVED
    buffered = snap.fills_buffered
    first = True
    while True:
        if not first:  # a fresh lock needs no renewal; a long drain does
            store.renew(token, rt.settings.lock_ttl_ms)
        first = False
        snap, applied, fills, more = _drain_once(rt, store, token, snap, result, not buffered)
        result.events_applied += applied
        buffered += fills
        if not more:
            break
    result.status = snap.status
    if buffered:
        flush_buffer(rt.redis, rt.pg, symbol)  # logs and keeps the fills when Postgres is down
    if change := advance.fleet_change(was_removed, snap):
        persist.fleet_membership(rt, store, token, result.last, change == "leave")
        result.last = None  # written there
    return result


def _drain_once(
    rt: Runtime, store: SymbolStore, token: str, snap: Snapshot, result: StepResult, hold: bool
) -> tuple[Snapshot, int, int, bool]:
    """Apply one batch of inbox events, then decide and execute; return the new snapshot.
    With `hold` (no fill to flush), a round that ends the step with nothing to send holds its
    commit back in `result.last`, to be written with the let-go in one round trip."""
    started_ms = now_ms()
    fx = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
    entries = snap.inbox if snap.inbox is not None else store.read_inbox(snap.last_seq, INBOX_BATCH)
    advance.absorb(snap, fx, _parse(snap, fx, entries))
    g = advance.gate(snap, fx, now_ms())
    actions: list[Action] = []
    if g.needs_reconcile and not g.waiting:
        fx.meta["needs_reconcile"] = "0"  # reconcile sets it again if it must run once more
        strategy, rules = fx.strategy or snap.strategy, fx.rules or snap.rules
        grid_config = strategy if isinstance(strategy, GridConfig) else None
        venue = rt.exchange_for(fx.exchange or snap.exchange)
        assert rules is not None  # the gate asks for a reconcile only with rules
        actions += reconcile(
            venue, snap, fx, grid_config, rules, now_ms(), persist.trade_book(rt, store)
        )
    shell, kind = _shell(snap.strategy if fx.strategy is None else fx.strategy), None
    if shell.pipeline is not None:
        kind = shell.pipeline(rt.exchange_for(fx.exchange or snap.exchange), snap, fx, g, now_ms())
    actions += advance.decide_step(snap, fx, g, now_ms(), kind)
    places = [a for a in actions if isinstance(a, PlaceOrder)]
    for place in places:
        fx.intend(place)
    fx.meta["last_step_ms"] = str(now_ms())

    # Commit #1: events applied, cursor advanced, intents written — before any order leaves.
    batch = persist.write_batch(store, snap, fx)  # first: it notes the trades cursor in fx
    after = persist.committed(snap, fx)
    result.events.extend(fx.events)
    more = len(entries) == INBOX_BATCH
    if hold and not (actions or fx.fills or more) and (g.waiting or not _recovering(after)):
        result.last = persist.LastWrite(batch, fx)
        return after, len(entries), 0, False
    persist.announce(store, fx, store.commit(token, batch))
    snap, fills, slow = after, len(fx.fills), False
    if actions:
        snap, slow, fills2 = _execute(rt, store, token, snap, actions, result, started_ms)
        fills += fills2
    if not g.waiting and not slow and _recovering(snap):
        fx3 = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
        advance.recovered(snap, fx3, now_ms())
        snap = persist.commit(store, token, snap, fx3)
    return snap, len(entries), fills, more


def _recovering(snap: Snapshot) -> bool:
    return snap.record.degraded is not None or snap.record.recovery.recovering


def _parse(snap: Snapshot, fx: Effects, entries: list[InboxEntry]) -> list[advance.InboxEvent]:
    """Return the inbox entries as events, moving the cursor past them; count malformed ones."""
    if entries and entries[0].seq > snap.last_seq + 1 and snap.last_seq > 0:
        log.warning(
            "%s: inbox gap after seq %d (oldest kept %d); reconciling",
            snap.symbol,
            snap.last_seq,
            entries[0].seq,
        )
        fx.meta["needs_reconcile"] = "1"
    events: list[advance.InboxEvent] = []
    for entry in entries:
        try:
            events.append(parse_inbox_event(entry.payload))
        except pydantic.ValidationError as exc:
            counted = fx.meta.get("rejected_events") or snap.meta.get("rejected_events") or "0"
            fx.meta["rejected_events"] = str(int(counted) + 1)
            log.error(
                "%s: skipped malformed inbox event seq %d: %s",
                snap.symbol,
                entry.seq,
                exc.errors(include_url=False)[:2],
            )
    if entries:
        fx.meta["last_seq"] = str(entries[-1].seq)
    return events


def _execute(
    rt: Runtime,
    store: SymbolStore,
    token: str,
    snap: Snapshot,
    actions: list[Action],
    result: StepResult,
    started_ms: int,
) -> tuple[Snapshot, bool, int]:
    """Send actions, commit what the venue answered; return the snapshot, slow?, fills."""
    places = [a for a in actions if isinstance(a, PlaceOrder)]
    fx = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
    sent_ms = now_ms()
    # The lock is renewed before each venue call: a step slower than the lock's TTL (a slow
    # venue) must not send once another worker may have taken the symbol and reconciled it.
    ttl_ms = rt.settings.lock_ttl_ms
    venue = rt.exchange_for(snap.exchange)
    error = execute(venue, snap.symbol, actions, fx, sent_ms, lambda: store.renew(token, ttl_ms))
    acked_ms = now_ms()
    if places and snap.tick is not None:
        result.tick_to_order_ms = max(0, acked_ms - snap.tick.ts_event_ms)
    persist.record_round_trips(rt, (acked_ms - sent_ms) / len(actions), acked_ms)
    slow = False
    if places and error is None:
        since = max(started_ms, snap.tick.ts_event_ms if snap.tick is not None else 0)
        slow = advance.latency_guard(snap, fx, acked_ms - since, acked_ms)
    if _shell(snap.strategy).hears_refusals:  # the pipeline hears of refusals next step
        refused = rejected_ids(fx.events)
        if refused:
            fx.meta["signal_rejected"] = ",".join(refused)
    snap = persist.commit(store, token, snap, fx)
    result.events.extend(fx.events)
    result.actions.extend(actions)
    if error is not None:
        raise error  # committed what was done; the policy decides what the error means
    return snap, slow, len(fx.fills)
