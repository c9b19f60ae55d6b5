"""Backtest a signal config over a candle series in-process, with the grid replay's fill model.

The candle's path (open, nearer extreme, farther extreme, close: `replay.path.candle_points`)
is walked point by point on the replay venue (`replay.matcher.ReplayMatcher`): resting orders fill
at their price, marketable ones at once as takers. Each point is a PriceSeen for the pipeline
(the stop is watched on it); the candle's close is a CandleClosed (no look-ahead: the signal of
candle j is acted on at j's close). The report is the grid replay's (`replay.report.summarize`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from mmtasks.domain import OrderStatus
from mmtasks.grid.actions import Action, CancelOrder, PlaceOrder
from mmtasks.grid.band import FillMode
from mmtasks.grid.models import Candle, Position
from mmtasks.replay.engine import Engine, Fill, Mark
from mmtasks.replay.matcher import Fees, ReplayMatcher, VenueUpdate
from mmtasks.replay.path import PathOrder, candle_points
from mmtasks.replay.report import summarize
from mmtasks.replay.series import Series
from mmtasks.replay.session import Outcome
from mmtasks.signal import events as ev
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.pipeline import CandleClosed, InputEvent, OrderChanged, Output, PriceSeen, step
from mmtasks.signal.state import SignalState
from mmtasks.signal.validate import Context


@dataclass
class _Symbol:
    symbol: str


@dataclass
class _Held:
    position: Position


@dataclass
class SignalRun:
    """A backtest's state, venue and results; shaped as replay's Engine for its report."""

    config: _Symbol
    grid: _Held
    venue: ReplayMatcher
    state: SignalState
    fills: list[Fill] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    events: list[Output] = field(default_factory=list)
    evaluations: int = 0
    # The grid engine's state fields and step events, for the report (a signal backtest has
    # no circuit breaker: the pipeline's own events are in `events`).
    meta: dict[str, str] = field(default_factory=dict)
    step_events: list[dict[str, str]] = field(default_factory=list)


def backtest(
    data: Series,
    config: SignalConfig,
    context: Context,
    symbol: str = "BTCUSDT",
    *,
    fees: Fees | None = None,
    fill: FillMode = "strict",
    order: PathOrder = "auto",
) -> tuple[dict[str, Any], SignalRun]:
    """Run config over the candles of data; return the replay report and the run."""
    state = SignalState(symbol=symbol)
    run = SignalRun(
        _Symbol(symbol), _Held(state.position), ReplayMatcher(fees or Fees(), fill), state
    )
    started = time.perf_counter()
    for j in range(len(data)):
        o, h, lo, c = (data.dec(col, j) for col in ("open", "high", "low", "close"))
        ts = int(data.ts_ms[j])
        for price in candle_points(o, h, lo, c, order):
            for update in run.venue.cross(price):
                _feed(run, _update(update, ts), price, j, ts, config, context)
            _feed(run, PriceSeen(price, ts), price, j, ts, config, context)
        candle = Candle(ts, o, h, lo, c, data.dec("volume", j), True)
        _feed(run, CandleClosed(candle), c, j, ts, config, context)
    # summarize reads the attributes Engine has; SignalRun has the same ones (see the report).
    outcome = Outcome(cast(Engine, run), data, time.perf_counter() - started)
    return summarize(outcome), run


def _update(update: VenueUpdate, ts: int) -> OrderChanged:
    return OrderChanged(
        update.client_order_id,
        update.status,
        update.cum_qty,
        ts,
        update.price,
        update.fee,
        update.venue_order_id,
        "rejected by the replay venue" if update.status is OrderStatus.REJECTED else "",
    )


def _feed(
    run: SignalRun,
    event: InputEvent,
    price: Decimal,
    index: int,
    ts: int,
    config: SignalConfig,
    context: Context,
) -> None:
    pending: list[InputEvent] = [event]
    while pending:
        before = run.state.position
        run.state, actions, events = step(run.state, pending.pop(0), config, context)
        run.evaluations += 1
        run.events += events
        _record(run, before, events, index, ts, pending)
        pending += _execute(run, actions, price, ts)


def _record(
    run: SignalRun,
    before: Position,
    events: list[Output],
    index: int,
    ts: int,
    pending: list[InputEvent],
) -> None:
    p = run.state.position
    for e in events:
        if isinstance(e, ev.TradeExecuted):
            fee = p.fees - before.fees
            maker = e.role == "take_profit"
            closing = e.role != "entry"
            run.fills.append(
                Fill(
                    index,
                    ts,
                    e.side,
                    e.price,
                    e.qty,
                    fee,
                    maker,
                    closing,
                    e.realized_pnl_delta,
                    e.client_order_id,
                )
            )
    if p != before:
        run.grid.position = p
        run.marks.append(
            Mark(index, p.qty, p.cost_basis, p.avg_cost, p.realized_pnl, p.fees, p.volume)
        )


def _execute(run: SignalRun, actions: list[Action], price: Decimal, ts: int) -> list[InputEvent]:
    out: list[InputEvent] = []
    for action in actions:
        if isinstance(action, CancelOrder):
            update = run.venue.cancel(action.client_order_id)
            if update is not None:
                out.append(_update(update, ts))
    for place in (a for a in actions if isinstance(a, PlaceOrder)):
        venue_id, updates = run.venue.place(place, price)
        out += [_update(u, ts) for u in updates]
        if not updates and run.venue.marketable(place.client_order_id, price):
            out += [_update(u, ts) for u in run.venue.take(place.client_order_id, price)]
        elif not updates:
            out.append(
                OrderChanged(
                    place.client_order_id, OrderStatus.NEW, Decimal(0), ts, venue_order_id=venue_id
                )
            )
    return out
