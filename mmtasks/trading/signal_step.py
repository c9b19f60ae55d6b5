"""The decision of a `kind: signal` symbol inside the shared worker step.

The step is the grid's (inbox in seq order, fills on the slots and the ledger, intents,
executor, reconcile, fleet state); this module only replaces `grid.logic.decide`: it feeds the
inbox's closed candles and order updates, then the newest tick, to the pure pipeline
(`signal.pipeline.step`), and returns the pipeline's orders. What it keeps:

- the pipeline's state in `mm:{s}:signal`, committed in the same fenced write as the rest, so
  an order's intent (the state's working order with its client id) is stored before it leaves;
  the `SignalState` object (and its talipp bank) stays in this process between tasks, reused
  while it still equals what Redis holds (the bank is rebuilt, ~16 ms for 500 candles, when not);
- history: on start and after a gap in the kline stream, `nbr_bars` closed candles from the
  venue (`Venue.klines`), added without evaluation (old signals never trade); a failed fetch is
  a DATA_FETCH_FAILED event and is tried again on a later step, with backoff;
- the health of the four stages in `mm:{s}:health`: a stage whose input raises is restarted
  (history fetched again, the bank rebuilt) up to three times; the next failure escalates: the
  symbol goes to ERROR, and beat's recovery (reconcile, retry, then give up with an alert) takes
  it from there, as for a grid symbol.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from mmtasks.domain import FleetState, OrderStatus
from mmtasks.errors import Response, policy_for
from mmtasks.events import EventType
from mmtasks.grid import models as core
from mmtasks.grid.actions import message_to_dict
from mmtasks.messages import CandleEvent
from mmtasks.signal import events as sev
from mmtasks.signal import pipeline
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.health import (
    STAGES,
    ServiceState,
    StageHealth,
    stage_from_json,
    stage_to_json,
)
from mmtasks.signal.state import SignalState
from mmtasks.signal.validate import Context
from mmtasks.state.codec import KEPT_ON_FAILURE, SymbolStatus
from mmtasks.trading.advance import Gate, KindDecision, give_up_cancels
from mmtasks.trading.commands import cancel_everything
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import Snapshot
from mmtasks.venue import Venue

log = logging.getLogger(__name__)

FETCH_BACKOFF_BASE_MS = 500
FETCH_BACKOFF_MAX_MS = 30_000
STAGE_OF = {
    pipeline.CandleClosed: "indicators",
    pipeline.PriceSeen: "strategy",
    pipeline.OrderChanged: "execution",
}
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_INTERVAL_RE = re.compile(r"^([0-9]{1,4})([smhdw])$")

# symbol -> the state this process last committed (with its bank), reused while Redis agrees
_cache: dict[str, tuple[dict[str, str], SignalState]] = {}


def interval_ms(interval: str) -> int | None:
    """Return the length of a kline interval in ms (None for months: no gap check)."""
    match = _INTERVAL_RE.match(interval)
    return None if match is None else int(match[1]) * _UNIT_MS[match[2]]


def load_state(snap: Snapshot) -> SignalState:
    """Return the symbol's pipeline state: this process's object while Redis still agrees."""
    cached = _cache.get(snap.symbol)
    if cached is not None and cached[0] == snap.raw_signal:
        return cached[1]
    if not snap.raw_signal:
        return SignalState(snap.symbol)
    return SignalState.from_dict(snap.raw_signal)


def load_health(snap: Snapshot) -> dict[str, StageHealth]:
    """Return the four stages' health from mm:{s}:health (CREATED when unknown)."""
    return {stage: stage_from_json(stage, snap.raw_health.get(stage)) for stage in STAGES}


def health_fields(stages: Mapping[str, StageHealth]) -> dict[str, str]:
    """Return the stages as the fields of mm:{s}:health."""
    return {name: stage_to_json(stage) for name, stage in stages.items()}


class _Run:
    """One decision of one signal symbol: state, health, actions and events as they build."""

    def __init__(
        self, venue: Venue, snap: Snapshot, fx: Effects, config: SignalConfig, context: Context
    ) -> None:
        self.venue, self.snap, self.fx, self.config, self.context = (
            venue,
            snap,
            fx,
            config,
            context,
        )
        self.state = load_state(snap)
        self.health = load_health(snap)
        self.actions: list[core.Action] = []
        self.meta = snap.meta | fx.meta

    # -- stages --------------------------------------------------------------------------

    def ran(self, stage: str, now_ms: int) -> None:
        before = self.health[stage]
        start = {
            ServiceState.CREATED: ServiceState.STARTING,
            ServiceState.STOPPED: ServiceState.STARTING,
            ServiceState.ERROR: ServiceState.RECOVERING,
        }
        current = before
        if current.state in start:
            current = current.moved(start[current.state], now_ms)
        if current.state is ServiceState.STOPPING:
            return
        self._moved(before, current.ran(now_ms))

    def failed(self, stage: str, exc: BaseException, now_ms: int) -> None:
        before = self.health[stage]
        if before.state in (ServiceState.CREATED, ServiceState.PAUSED):
            before = before.moved(ServiceState.STARTING, now_ms).moved(ServiceState.RUNNING, now_ms)
        message = f"{type(exc).__name__}: {exc}"[:300]
        after = before.failed(message, now_ms)
        self._moved(self.health[stage], after)
        log.warning(
            "signal stage failed symbol=%s stage=%s restarts=%d error=%s",
            self.snap.symbol,
            stage,
            after.restarts,
            message,
        )
        if after.escalated:
            self._escalate(stage, message, now_ms)
        else:  # restart: the state is rebuilt from the venue's history on this step
            self.fx.meta["signal_history"] = "1"
            self.state = replace(self.state, bank=None)

    def _moved(self, before: StageHealth, after: StageHealth) -> None:
        self.health[after.stage] = after
        if before.state is not after.state:
            self.fx.event(
                EventType.SERVICE_STATE_CHANGED,
                {
                    "stage": after.stage,
                    "from": before.state.value,
                    "to": after.state.value,
                    "restarts": after.restarts,
                    "error": after.last_error if after.state is not ServiceState.RUNNING else "",
                },
            )

    def _escalate(self, stage: str, message: str, now_ms: int) -> None:
        """Hand the symbol to the grid's recovery: ERROR now, beat reconciles and retries (not
        a removed symbol: beat's recovery would make it trade again)."""
        if (self.snap.meta | self.fx.meta).get("status") in KEPT_ON_FAILURE:
            return
        error = f"signal stage {stage} failed after its restarts: {message}"[:500]
        self.fx.meta.update(
            {"status": SymbolStatus.ERROR, "last_error": error, "needs_reconcile": "1"}
        )
        self.fx.meta["error_since_ms"] = str(now_ms)
        self.fx.event(EventType.SYMBOL_STATE_CHANGED, {"status": "ERROR", "error": error})
        log.error("symbol moved to ERROR symbol=%s error=%s", self.snap.symbol, error)

    # -- inputs --------------------------------------------------------------------------

    def fetch_history(self, now_ms: int, end_ms: int = 0) -> None:
        """Add the venue's newest closed candles to the state (no evaluation)."""
        due = int(self.meta.get("signal_fetch_at_ms") or 0)
        if now_ms < due:
            return
        interval = self.snap.risk.kline_interval
        try:
            klines = self.venue.klines(
                self.snap.symbol, interval, limit=self.config.nbr_bars, end_ms=end_ms
            )
        except Exception as exc:
            if policy_for(exc) is Response.HALT:
                raise
            errors = self.health["data"].error_count + 1
            backoff = min(FETCH_BACKOFF_BASE_MS * 2 ** min(errors, 10), FETCH_BACKOFF_MAX_MS)
            self.fx.meta["signal_history"] = "1"
            self.fx.meta["signal_fetch_at_ms"] = str(now_ms + backoff)
            self._publish(
                [sev.DataFetchFailed(self.snap.symbol, f"klines {interval}: {exc}"[:300], now_ms)]
            )
            before = self.health["data"]
            if before.state in (ServiceState.CREATED, ServiceState.RUNNING):
                if before.state is ServiceState.CREATED:
                    before = before.moved(ServiceState.STARTING, now_ms)
                after = before.moved(ServiceState.ERROR, now_ms)
                after = replace(after, error_count=errors, last_error=str(exc)[:300])
                self._moved(self.health["data"], after)
            else:
                self.health["data"] = replace(before, error_count=errors, last_error=str(exc)[:300])
            return
        candles = [
            core.Candle(k.open_ms, k.open, k.high, k.low, k.close, k.volume, True)
            for k in klines
            if k.closed
        ]
        self.state, added = pipeline.warm(self.state, candles, self.config)
        self.fx.meta.update({"signal_history": "0", "signal_fetch_at_ms": ""})
        self.ran("data", now_ms)
        log.info("signal history symbol=%s candles=%d", self.snap.symbol, added)

    def feed(self, event: pipeline.InputEvent, now_ms: int) -> None:
        """Run one input through the pipeline; a failure is the stage's, not the step's."""
        stage = STAGE_OF.get(type(event), "data")
        try:
            state, actions, events = pipeline.step(self.state, event, self.config, self.context)
        except Exception as exc:
            if policy_for(exc) in (Response.RETRY, Response.AMBIGUOUS):
                raise  # a dependency fault: the step backs off and tries again
            self.failed(stage, exc, now_ms)
            return
        self.state = state
        self.actions += actions
        self._publish(events)
        self.ran(stage, now_ms)

    def _publish(self, events: list[pipeline.Output]) -> None:
        failed = self.meta.get("signal_failed", "")
        for event in events:
            if isinstance(event, core.PositionChanged):
                continue  # the slots' fills publish the position events, once
            data = message_to_dict(event)
            kind = EventType(data.pop("type"))
            data.pop("symbol", None)
            if isinstance(event, sev.TradeFailed):
                key = f"{event.role}:{event.reason}"
                if key == failed:
                    continue  # the stop stays reached under HALTED: said once, not every tick
                failed = key
            elif isinstance(event, sev.TradeExecuted | sev.SignalValidated):
                failed = ""
            self.fx.event(kind, data)
        if failed != self.meta.get("signal_failed", ""):
            self.fx.meta["signal_failed"] = failed
            self.meta["signal_failed"] = failed


def decide_signal(
    venue: Venue,
    snap: Snapshot,
    fx: Effects,
    config: SignalConfig,
    context: Context,
    *,
    trading: bool,
    now_ms: int,
) -> list[core.Action]:
    """Run the symbol's pipeline over this step's inputs; return the orders to send.

    `trading` is False while the symbol backs off or is in ERROR: the pipeline still follows
    candles and fills, and whatever it would send waits (cancels are sent again later).
    """
    run = _Run(venue, snap, fx, config, context)
    meta = snap.meta | fx.meta
    if run.state.symbol != snap.symbol:
        run.state = SignalState(snap.symbol)
    if any(h.escalated for h in run.health.values()) and meta.get("status") == "ACTIVE":
        # recovered or resumed: the stages start afresh, from the venue's history
        run.health = {name: StageHealth(name) for name in STAGES}
        fx.meta["signal_history"] = "1"
    rejected = [c for c in meta.get("signal_rejected", "").split(",") if c]
    if rejected:
        fx.meta["signal_rejected"] = ""
    for cid in rejected:
        run.feed(pipeline.OrderChanged(cid, OrderStatus.REJECTED, Decimal(0), now_ms), now_ms)
    if (fx.meta.get("signal_history") or meta.get("signal_history")) == "1" and trading:
        run.fetch_history(now_ms)
    step_ms = interval_ms(snap.risk.kline_interval)
    for item in fx.signal_inputs:
        if isinstance(item, CandleEvent):
            if item.interval != snap.risk.kline_interval:
                continue  # candles of another interval than the symbol's
            newest = run.state.candles[-1].open_ms if run.state.candles else None
            if newest is not None and step_ms and item.open_ms > newest + step_ms and trading:
                log.warning("%s: kline gap after %d; fetching history", snap.symbol, newest)
                run.fetch_history(now_ms, end_ms=item.open_ms - 1)
            candle = core.Candle(
                item.open_ms, item.open, item.high, item.low, item.close, item.volume, True
            )
            run.feed(pipeline.CandleClosed(candle), now_ms)
        else:
            run.feed(item, now_ms)
    tick = snap.tick
    if tick is not None and str(tick.seq) != meta.get("signal_tick_seq"):
        fx.meta["signal_tick_seq"] = str(tick.seq)
        fx.meta["last_price"] = str(tick.price)
        fx.meta["last_price_ts_ms"] = str(tick.ts_event_ms)
        run.feed(pipeline.PriceSeen(tick.price, tick.ts_event_ms), now_ms)
    actions = _settled(run, fx, now_ms)
    fields = run.state.to_dict()
    if fields != snap.raw_signal:
        fx.signal = fields
    health = health_fields(run.health)
    if health != snap.raw_health:
        fx.health = health
    _cache[snap.symbol] = (fields, run.state)
    if not trading:
        return []
    return actions


def _settled(run: _Run, fx: Effects, now_ms: int) -> list[core.Action]:
    """Return the pipeline's orders, with what the slots say must still be cancelled.

    A place and a cancel of the same order in one step cancel out (the order never leaves);
    a cancel the state has asked for whose order still rests is sent again; a resting order of
    ours the state does not know (adopted by reconcile, a state rebuilt) is cancelled.
    """
    places = {a.client_order_id for a in run.actions if isinstance(a, core.PlaceOrder)}
    both = {
        a.client_order_id
        for a in run.actions
        if isinstance(a, core.CancelOrder) and a.client_order_id in places
    }
    actions = [a for a in run.actions if a.client_order_id not in both]
    for never_sent in both:
        update = pipeline.OrderChanged(never_sent, OrderStatus.CANCELED, Decimal(0), now_ms)
        run.feed(update, now_ms)
    asked = {a.client_order_id for a in actions if isinstance(a, core.CancelOrder)}
    known = {o.client_order_id: o for o in run.state.orders.values()}
    for slot in fx.grid.slots.values():
        cid = slot.client_order_id
        if slot.status is not core.SlotStatus.LOCKED or not cid or cid in asked:
            continue
        order = known.get(cid)
        if order is None or order.cancel_sent:
            reason = "not an order of the trade" if order is None else "cancel sent again"
            symbol = fx.grid.symbol
            actions.append(core.CancelOrder(symbol, slot.level, cid, slot.venue_order_id, reason))
    return actions


def rejected_ids(events: list[dict[str, str]]) -> list[str]:
    """Return the client ids of ORDER_REJECTED events (the executor's refusals)."""
    out = []
    for event in events:
        if event.get("type") != EventType.ORDER_REJECTED:
            continue
        data: dict[str, Any] = json.loads(event.get("data", "{}"))
        cid = data.get("client_order_id")
        if cid:
            out.append(str(cid))
    return out


def signal_decision(
    venue: Venue, snap: Snapshot, fx: Effects, g: Gate, now_ms: int
) -> KindDecision | None:
    """Return the signal kind's decision for this step, or None for a grid symbol.

    The pipeline runs whatever the status (fills and candles keep its state true); it is told
    the fleet state and whether the symbol trades, and places nothing when it may not.
    """
    config = fx.strategy or snap.strategy
    rules = fx.rules or snap.rules
    if not isinstance(config, SignalConfig) or rules is None:
        return None
    signal_config: SignalConfig = config
    symbol_rules: core.SymbolRules = rules

    def decision(fleet: FleetState, status: str) -> list[core.Action]:
        risk = fx.risk or snap.risk
        active = status == SymbolStatus.ACTIVE and not g.waiting
        context = Context(
            rules=symbol_rules,
            fleet_state=fleet.value,
            max_position=risk.max_position,
            paused=not active,
        )
        actions = decide_signal(
            venue, snap, fx, signal_config, context, trading=not g.waiting, now_ms=now_ms
        )
        if not g.waiting and (not active or fleet is FleetState.HALTED):
            asked = {a.client_order_id for a in actions}
            actions += [a for a in cancel_everything(fx.grid) if a.client_order_id not in asked]
        if g.waiting:
            actions += give_up_cancels(fx)
        return actions

    return decision
