"""The exact replay step: the venue's fills, then the live core decides until nothing changes.

The decision is the worker's own (`trading.advance.decide_step`): the circuit breaker, the
kind's decision, cancelling everything once the breaker pauses the symbol. Order updates go
through `apply_order_update` (with the losing streak `advance` counts live), intents and the
venue's answers through `mark_placed` - `mark_pending`, then `mark_acked` or `mark_rejected`,
the transitions the live fleet makes, written in one copy of the slots. Replay's venue answers
at once, so `max_tick_to_ack_ms` (the latency guard) never trips here, and the fleet is ACTIVE
throughout (one symbol, no fleet risk).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from mmtasks.decimals import ZERO, canon
from mmtasks.domain import Side
from mmtasks.errors import OperationalError
from mmtasks.grid.band import Band, FillMode
from mmtasks.grid.logic import REASON_WINDOW, frame, with_anchor
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    Candle,
    GridConfig,
    GridState,
    Market,
    OrderFilled,
    PlaceOrder,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
)
from mmtasks.grid.quickinit import quick_init
from mmtasks.grid.transitions import apply_order_update, mark_placed
from mmtasks.replay.matcher import Fees, ReplayMatcher, VenueUpdate
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import StateFields
from mmtasks.trading import advance
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import Snapshot, Tick

# Enum members as module constants: `Side.BUY` is a look-up on the enum class (~65 ns on
# Python 3.11), a module global ~10 ns, and the hot paths read them per order and per slot.
_BUY, _SELL = Side.BUY, Side.SELL
_FREE = SlotStatus.FREE

MAX_ROUNDS = 1000  # decisions at one price; the core converges in a few, more is a bug


@quick_init
@dataclass(frozen=True)
class Fill:
    """One fill as the ledger would record it."""

    index: int  # row of the input series
    ts_ms: int
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    maker: bool
    closing: bool
    realized_pnl: Decimal
    client_order_id: str


@quick_init
@dataclass(frozen=True)
class Mark:
    """The position after a change, from input row `index` on."""

    index: int
    qty: Decimal
    cost_basis: Decimal
    avg_cost: Decimal
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal


@dataclass
class Config:
    """Everything one symbol's replay needs besides the prices."""

    symbol: str
    strategy: GridConfig
    risk: RiskConfig
    rules: SymbolRules
    fees: Fees = field(default_factory=Fees)
    fill: FillMode = "strict"

    @property
    def breaker_armed(self) -> bool:
        """Return True when a circuit-breaker limit is set (the fast path's bands are then cut
        to the prices where it decides the same, and its volume-monitor shortcut stays off)."""
        return self.risk.max_drawdown_quote is not None or self.risk.max_losing_closes is not None

    @property
    def needs_candles(self) -> bool:
        """Return True when decisions depend on candles (volume monitor or ATR interval)."""
        return self.risk.enable_volume_monitor or self.strategy.atr_scale > 0


class Engine:
    """One symbol's grid state, venue and results; `step` visits one price of the path."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.grid = GridState(symbol=config.symbol)
        self.venue = ReplayMatcher(config.fees, config.fill)
        self.fills: list[Fill] = []
        self.marks: list[Mark] = []
        self.evaluations = 0
        self.steps = 0
        self.firings = 0  # volume-monitor firings the fast path applied in one step (firing.py)
        self.chained = 0  # of those, firings written together with the one before (FiringRun)
        self.last_market: Market | None = None
        # The fast path skips the decision that would confirm a settled grid after one that
        # only placed orders, all now resting (see step); the plain loop always decides again.
        self.trust_placements = False
        self.trusted = 0  # confirming decisions skipped so
        self.trusted_cancels = 0  # of those, after a decision that cancelled entries too
        self.confirm_trusted = False  # tests: a confirmation skipped is made, must be empty
        # What the worker keeps in its state hash (breaker, streak, peak, status) and the
        # events its decisions emitted (the breaker's), as the live step would commit them.
        self.meta: StateFields = {}
        self.step_events: list[dict[str, str]] = []
        self._index = 0
        self._ts = 0
        # What the worker would have read, kept between decisions: decide_step only reads it,
        # so only the grid, the state fields and the tick move (record is derived from meta).
        self._snap = Snapshot(
            symbol=config.symbol,
            meta=self.meta,
            grid=self.grid,
            strategy=config.strategy,
            risk=config.risk,
            rules=config.rules,
            candles={},
            tick=None,
            fleet_state="ACTIVE",
        )

    def step(self, index: int, ts_ms: int, price: Decimal, candles: tuple[Candle, ...]) -> None:
        """Fill what the price reaches, then decide at price until a decision changes nothing."""
        self.steps += 1
        self._index, self._ts = index, ts_ms
        position = self.grid.position
        for update in self.venue.cross(price):
            self._apply(update)
        cfg = self.config
        if self.grid.anchor is None:
            self.grid = with_anchor(self.grid, price, cfg.rules.tick_size)
        market = Market(price, ts_ms, candles)
        self.last_market = market
        for _ in range(MAX_ROUNDS):
            actions = self.decide(market)
            self.evaluations += 1
            if not actions:
                break
            if self._execute(actions, price) and self.trust_placements:
                self.trusted += 1
                self.trusted_cancels += any(isinstance(a, CancelOrder) for a in actions)
                if self.confirm_trusted and self.decide(market):
                    raise OperationalError(f"{cfg.symbol}: a trusted decision at {price} acts")
                break
        else:
            raise OperationalError(
                f"{cfg.symbol}: decisions at {price} did not settle in {MAX_ROUNDS} rounds"
            )
        if self.grid.position is not position and self.grid.position != position:
            p = self.grid.position
            self.marks.append(
                Mark(index, p.qty, p.cost_basis, p.avg_cost, p.realized_pnl, p.fees, p.volume)
            )

    def deciding_grid(self) -> GridState:
        """Return the grid as the decision sees it: reduce-only once the breaker says REDUCING
        (`advance.decide_grid`), so that its quiet band is the band of that decision."""
        if self.meta.get("breaker") == "REDUCING" and not self.grid.reduce_only:
            return dataclasses.replace(self.grid, reduce_only=True)
        return self.grid

    def breaker_cut(self, band: Band | None) -> Band | None:
        """Return the part of the settled grid's band (of `deciding_grid`) where the circuit
        breaker decides the same as at the last price (`advance.cut_band`, as the worker
        stores it). Once tripped it is not checked again: the band stands."""
        cfg, market, meta = self.config, self.last_market, self.meta
        if band is None or not cfg.breaker_armed or market is None:
            return band
        prices = advance.breaker_prices(
            meta.get("breaker"),
            meta.get("equity_hwm"),
            cfg.risk,
            self.grid.position,
            cfg.rules.tick_size,
        )
        return advance.cut_band(band, prices, market.price)

    def decide(self, market: Market) -> list[Action]:
        """Return the worker's decision at market: `advance.decide_step`, as a step runs it."""
        snap = self._snap
        snap.grid = self.grid
        if snap.meta is not self.meta:
            snap.meta = self.meta
            snap.__dict__.pop("record", None)  # the cached_property read from the old meta
        tick = snap.tick
        if tick is None or tick.price is not market.price or tick.ts_event_ms != market.price_ts_ms:
            snap.tick = Tick(market.price, market.price_ts_ms, 0)
        fx = Effects(grid=self.grid, meta={}, candles={})
        status = self.meta.get("status", SymbolStatus.ACTIVE)
        gate = advance.Gate(status, waiting=False, needs_reconcile=False)
        # Without the worker's display fields (last_price): they are no state here.
        actions = advance.decide_step(
            snap, fx, gate, market.price_ts_ms, market=market, display=False
        )
        self.grid = fx.grid
        if fx.meta:
            self.meta = {**self.meta, **fx.meta}
        if fx.events:
            self.step_events += fx.events
        return actions

    def _execute(self, actions: list[Action], price: Decimal) -> bool:
        """Carry out actions as the executor does: cancels first, then the places (intents
        written before any is sent); return True when the next decision is surely empty.

        It is when actions placed orders, none rejected or taken, and cancelled only entries
        out of their window, freeing no price a closing order waits for (`_freed_unwanted`),
        without max_open_orders or max_position (replay's fleet is ACTIVE throughout, so no
        REDUCING fleet's zero limit either: a cancel lowers the exposure a limit weighs).
        decide(S') at the same price then has the same frame (no fill moved the position) and
        every reason it skipped a level or a closing order still holds: the occupied prices and
        busy levels only grew, but for the cancelled entries', which lie outside the placement
        window (a buy below ref - (Wb + 1) x i, a sell above ref + (Ws + 1) x i: no entry
        candidate, and only a closing order of the other side could want one, which
        `_freed_unwanted` rules out); the slots placed on hold an order; each order placed is
        inside its cancel window (placed inside the narrower placement window) or passed, and
        each order kept was kept by the same frame, so nothing is cancelled either. (A window
        cancel of an entry means the grid is neither stale nor reduce-only: those cancel
        entries for their own reason first.)
        """
        risk = self.config.risk
        settled = risk.max_open_orders is None
        position = self.grid.position
        freed: list[Slot] = []  # the entries cancelled out of their window
        for action in actions:
            if isinstance(action, CancelOrder):
                if settled:
                    slot = self._window_entry(action)
                    settled = slot is not None
                    if slot is not None:
                        freed.append(slot)
                update = self.venue.cancel(action.client_order_id)
                if update is not None:
                    self._apply(update)
        places = [a for a in actions if isinstance(a, PlaceOrder)]
        answers: list[tuple[PlaceOrder, str | None]] = []
        taken: list[PlaceOrder] = []
        for place in places:
            venue_id, updates = self.venue.place(place, price)
            if updates:  # rejected
                answers.append((place, None))
                settled = False
                continue
            answers.append((place, venue_id))
            if self.venue.marketable(place.client_order_id, price):
                taken.append(place)
        # The intents, then the venue's answers (it answers at once, whatever the grid holds).
        self.grid = mark_placed(self.grid, answers)
        # Orders the market has passed fill at once as takers: buys highest first, then sells
        # lowest first (GRID.md "Cases").
        taken.sort(key=lambda p: (p.side is _SELL, -p.price if p.side is _BUY else p.price))
        for place in taken:
            for update in self.venue.take(place.client_order_id, price):
                self._apply(update)
        if not settled or taken:
            return False
        return not freed or (self.grid.position is position and self._freed_unwanted(freed))

    def _window_entry(self, cancel: CancelOrder) -> Slot | None:
        """Return the slot of cancel when it takes an entry out of its window (None: another
        cancel, or max_position, under which freed exposure may let an order through)."""
        if cancel.reason != REASON_WINDOW or self.config.risk.max_position is not None:
            return None
        slot = self.grid.slots.get(canon(cancel.level))
        return None if slot is None or slot.closing or slot.price is None else slot

    def _freed_unwanted(self, freed: list[Slot]) -> bool:
        """Return True when every cancelled entry's slot is free now and no free slot holds
        inventory whose closing order would take a freed price (level -/+ interval)."""
        market = self.last_market
        if market is None:
            return False
        cfg = self.config
        grid = self.grid
        i = frame(grid, market, cfg.strategy, cfg.risk, cfg.rules, market.price_ts_ms).interval
        slots = grid.slots
        for old in freed:
            slot = slots.get(canon(old.level))
            if slot is None or slot.status is not _FREE or old.price is None:
                return False
            below = slots.get(canon(old.price - i))
            if below is not None and below.status is _FREE and below.inventory > 0:
                return False
            above = slots.get(canon(old.price + i))
            if above is not None and above.status is _FREE and above.inventory < 0:
                return False
        return True

    def _apply(self, update: VenueUpdate) -> None:
        realized_before = self.grid.position.realized_pnl
        self.grid, events = apply_order_update(  # positional: every fill and cancel calls it
            self.grid,
            update.client_order_id,
            update.venue_order_id,
            update.status,
            update.cum_qty,
            update.price,  # last_fill_price
            update.fee if update.price is not None else ZERO,
            update.trade_id,
            self._ts,  # now_ms
        )
        for event in events:
            if isinstance(event, OrderFilled):
                self.fills.append(
                    Fill(
                        self._index,
                        self._ts,
                        event.side,
                        event.price,
                        event.qty,
                        event.fee,
                        update.maker,
                        event.closing,
                        event.realized_pnl_delta,
                        event.client_order_id,
                    )
                )
        realized_after = self.grid.position.realized_pnl
        if realized_after != realized_before:
            streak = advance.streak_after(self.meta, realized_before, realized_after)
            self.meta = {**self.meta, "losing_streak": streak}
