"""The simulated exchange: orders, matching against the price feed, fills, fees and positions.

There is no book of other participants: the market is the price feed. A new price p fills every
resting BUY priced >= p and every resting SELL priced <= p at the order's own price (maker), up
to `liquidity` base qty per order per tick: buys from the highest price down, then sells from
the lowest price up (the order average-cost PnL depends on). An order marketable when placed
(one the market has already passed, e.g. a closing order after a gap) fills at once as a taker
at the last price, which is never worse than its limit.

Reduce-only is judged on the symbol's net position, as a venue does: refused at placement when
it would not reduce it (or would flip it), capped at fill time to what is left to reduce, and
cancelled ("no position") when the net position is flat or on the order's side by then.

Rejections by trading rules (post-only would cross, reduce-only would increase or flip) create an
order with status REJECTED and a reject_reason, so the client order id is used and a replay
returns the same answer. Malformed input (bad tick, step, min qty, min notional, unknown symbol)
raises ValidationError and changes nothing.

One re-entrant lock guards all state. Listeners are called with the lock held, so every listener
sees events in seq order; they must only hand events off (append to a queue), never block.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mmtasks.decimals import canon, snap_down
from mmtasks.domain import OrderStatus, Side, parse_symbol
from mmtasks.errors import (
    OrderNotFoundError,
    OrderNotOpenError,
    UnknownSymbolError,
    ValidationError,
)
from mmtasks.sim.book import OrderState, RestingOrders
from mmtasks.sim.ids import IdGenerator, NumericIds, base36
from mmtasks.sim.market import MarketData
from mmtasks.sim.models import SimConfig, SimSymbolRules
from mmtasks.sim.positions import Portfolio
from mmtasks.sim.rules import (
    check_order,
    check_price,
    check_quantity,
    is_marketable,
    rejection_reason,
    rules_for,
)
from mmtasks.venue.types import (
    Account,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Position,
    PriceTick,
    TimeInForce,
    Trade,
)

ZERO = Decimal(0)
CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Return the wall-clock time in ms."""
    return time.time_ns() // 1_000_000


class ShiftedClock:
    """The wall clock moved by `shift_ms` (a test bed's control: trades made "days ago")."""

    def __init__(self) -> None:
        self.shift_ms = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.shift_ms


class SimExchange:
    """An in-process simulated exchange; every public method is thread-safe."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock = wall_clock_ms) -> None:
        self.config = config or SimConfig()
        self.clock = clock
        self.lock = threading.RLock()  # hold it to make a snapshot atomic with event delivery
        if not self.config.symbols:
            raise ValidationError("symbols must name at least one symbol, received none")
        self._rules: dict[str, SimSymbolRules] = {}
        for raw in self.config.symbols:
            name = parse_symbol(raw)
            rules = self.config.rules.get(name) or rules_for(
                name, self.config.start_prices.get(name)
            )
            self._rules[name] = rules
        if self.config.liquidity is not None and self.config.liquidity <= 0:
            raise ValidationError(f"liquidity must be > 0, received {self.config.liquidity}")
        now = clock()
        # Ids carry a per-run prefix so a restarted connector never reuses a trade id.
        prefix = self.config.id_prefix
        self._ids = (
            NumericIds(now)
            if self.config.numeric_ids
            else IdGenerator(base36(now) if prefix is None else prefix)
        )
        self._books = {s: RestingOrders() for s in self._rules}
        self._portfolio = Portfolio(
            self._rules, self.config.starting_balance, self.config.max_trades_kept
        )
        self._positions = self._portfolio.positions
        self._market = MarketData(self._rules, self.config.kline_intervals, now)
        self._orders: dict[str, OrderState] = {}
        self._by_client_id: dict[tuple[str, str], OrderState] = {}
        self._closed: deque[OrderState] = deque()  # closed orders, oldest first (to forget)
        self._update_seq = 0
        self._order_listeners: list[Callable[[Any], None]] = []
        self._client_id_re = (
            CLIENT_ORDER_ID_RE
            if self.config.client_order_id_pattern == CLIENT_ORDER_ID_RE.pattern
            else re.compile(self.config.client_order_id_pattern)
        )

    # -- listeners ---------------------------------------------------------------------------

    def add_listener(self, kind: str, listener: Callable[[Any], None]) -> None:
        """Call listener with every event of kind "price", "order" or "kline"."""
        with self.lock:
            self._listeners(kind).append(listener)

    def remove_listener(self, kind: str, listener: Callable[[Any], None]) -> None:
        """Stop calling a listener added with add_listener."""
        with self.lock:
            listeners = self._listeners(kind)
            if listener in listeners:
                listeners.remove(listener)

    def _listeners(self, kind: str) -> list[Callable[[Any], None]]:
        table: dict[str, list[Callable[[Any], None]]] = {
            "price": self._market.price_listeners,
            "order": self._order_listeners,
            "kline": self._market.kline_listeners,
        }
        if kind not in table:
            raise ValueError(f"kind must be price, order or kline, received {kind!r}")
        return table[kind]

    # -- reference data ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the symbols this exchange trades."""
        return tuple(self._rules)

    def rules(self, symbol: str) -> SimSymbolRules:
        """Return the rules of a symbol or raise UnknownSymbolError."""
        rules = self._rules.get(symbol)
        if rules is not None:
            return rules
        name = parse_symbol(symbol)
        rules = self._rules.get(name)
        if rules is None:
            raise UnknownSymbolError(
                f"symbol {symbol!r} is not traded here; known symbols: {', '.join(self._rules)}"
            )
        return rules

    # -- trading -----------------------------------------------------------------------------

    def place_order(self, cmd: OrderRequest) -> tuple[Order, bool]:
        """Place an order; return (order, duplicate). A known client order id returns its order."""
        with self.lock:
            rules = self.rules(cmd.symbol)
            symbol = rules.symbol
            coid = cmd.client_order_id
            if coid:
                if not self._client_id_re.match(coid):
                    rule = (
                        "be 1-32 letters or digits"
                        if self._client_id_re is CLIENT_ORDER_ID_RE
                        else f"match {self._client_id_re.pattern}"
                    )
                    raise ValidationError(f"client_order_id must {rule}, received {coid!r}")
                existing = self._by_client_id.get((symbol, coid))
                if existing is not None:
                    return existing.snapshot(), True
            last = self._market.last[symbol].price
            price = check_order(rules, cmd, last)
            now = self.clock()
            order = OrderState(
                symbol=symbol,
                order_id=self._ids.next_order_id(),
                client_order_id=coid or self._ids.client_order_id(),
                price=price,
                created_ms=now,
                updated_ms=now,
                **cmd.terms(),
            )
            self._orders[order.order_id] = order
            self._by_client_id[(symbol, order.client_order_id)] = order
            marketable = is_marketable(cmd, price, last)
            reason = rejection_reason(
                symbol, cmd, price, last=last, position=self._positions[symbol].quantity
            )
            if reason:
                order.status = OrderStatus.REJECTED
                order.reject_reason = reason
                self._emit(order, None)
                return order.snapshot(), False
            self._emit(order, None)
            if marketable:
                fill_price = last
                if cmd.order_type is OrderType.LIMIT:
                    fill_price = min(price, last) if cmd.side is Side.BUY else max(price, last)
                self._fill(order, self._liquidity(order), fill_price, is_maker=False)
            if order.status.is_open:
                if cmd.order_type is OrderType.MARKET:
                    self._close(order, OrderStatus.EXPIRED, "market order remainder expired")
                elif cmd.time_in_force is TimeInForce.IOC:
                    self._close(order, OrderStatus.EXPIRED, "IOC remainder expired")
                else:
                    self._books[symbol].add(order)
            return order.snapshot(), False

    def cancel_order(self, symbol: str, order_id: str = "", client_order_id: str = "") -> Order:
        """Cancel an open order; raise OrderNotFoundError, or OrderNotOpenError when it is done."""
        with self.lock:
            order = self._find_open(symbol, order_id, client_order_id, "cancel")
            self._close(order, OrderStatus.CANCELED, "")
            return order.snapshot()

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[Order]:
        """Cancel every open order of a symbol whose client id starts with the prefix."""
        with self.lock:
            book = self._books[self.rules(symbol).symbol]
            victims = [o for o in book if o.client_order_id.startswith(client_order_id_prefix)]
            for order in victims:
                self._close(order, OrderStatus.CANCELED, "")
            return [o.snapshot() for o in victims]

    def get_order(self, symbol: str, order_id: str = "", client_order_id: str = "") -> Order:
        """Return an order in any status or raise OrderNotFoundError."""
        with self.lock:
            return self._find(symbol, order_id, client_order_id).snapshot()

    def open_orders(self, symbol: str = "") -> list[Order]:
        """Return the open orders of one symbol, or of every symbol when symbol is empty."""
        with self.lock:
            names = [self.rules(symbol).symbol] if symbol else list(self._books)
            orders = [o for name in names for o in self._books[name]]
            orders.sort(key=lambda o: (o.created_ms, o.order_id))
            return [o.snapshot() for o in orders]

    # -- account -----------------------------------------------------------------------------

    def positions(self, symbol: str = "") -> list[Position]:
        """Return positions (flat ones too) of one symbol or of every symbol."""
        with self.lock:
            names = [self.rules(symbol).symbol] if symbol else list(self._positions)
            return [self._positions[n].snapshot(self._market.last[n].price) for n in names]

    def account(self) -> Account:
        """Return balances per quote asset (start + realized - fees) and PnL totals."""
        with self.lock:
            return self._portfolio.account()

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 1000) -> list[Trade]:
        """Return the oldest `limit` trades with ts_ms >= since_ms, of one or every symbol."""
        with self.lock:
            name = self.rules(symbol).symbol if symbol else ""
            return self._portfolio.trades.since(name, since_ms, limit)

    # -- market data -------------------------------------------------------------------------

    def latest_price(self, symbol: str) -> PriceTick:
        """Return the last price tick of a symbol (seq 0 is the start price)."""
        with self.lock:
            return self._market.last[self.rules(symbol).symbol]

    def latest_prices(self) -> list[PriceTick]:
        """Return the last price tick of every symbol."""
        with self.lock:
            return list(self._market.last.values())

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int | None = None
    ) -> list[Kline]:
        """Return the newest closed candles of a symbol, oldest first."""
        with self.lock:
            return self._market.series(self.rules(symbol).symbol, interval).history(limit, end_ms)

    def forming_kline(self, symbol: str, interval: str = "1m") -> Kline | None:
        """Return the candle still forming, None before the first price."""
        with self.lock:
            return self._market.series(self.rules(symbol).symbol, interval).forming()

    def apply_price(self, symbol: str, price: Decimal, volume: Decimal | None = None) -> PriceTick:
        """Trade the market at a new price: publish it, update candles, fill crossed orders."""
        with self.lock:
            rules = self.rules(symbol)
            check_price(rules, price)
            if volume is not None and volume < 0:
                raise ValidationError(f"volume must be >= 0, received {canon(volume)}")
            tick = self._market.trade(rules.symbol, price, volume or ZERO, self.clock())
            for order in self._books[rules.symbol].crossed_by(price):
                if order.status.is_open:
                    self._fill(order, self._liquidity(order), order.price, is_maker=True)
            return tick

    def close_due_klines(self, now_ms: int | None = None) -> list[Kline]:
        """Close every candle whose interval is over; return the closed ones."""
        with self.lock:
            return self._market.close_due(self.clock() if now_ms is None else now_ms)

    # -- exchange-side control ---------------------------------------------------------------

    def fill_order(
        self,
        symbol: str,
        order_id: str = "",
        client_order_id: str = "",
        quantity: Decimal | None = None,
    ) -> Order:
        """Fill an open order at its price as maker, the remainder when quantity is None."""
        with self.lock:
            order = self._find_open(symbol, order_id, client_order_id, "fill")
            qty = order.remaining if quantity is None else quantity
            if qty <= 0 or qty > order.remaining:
                raise ValidationError(
                    f"quantity must be > 0 and <= the remaining {canon(order.remaining)}, "
                    f"received {canon(qty)}"
                )
            if qty != order.remaining:  # the last bit may be under min qty, never off the step
                check_quantity(self._rules[order.symbol], qty)
            self._fill(order, qty, order.price, is_maker=True)
            return order.snapshot()

    def exchange_cancel(self, symbol: str, order_id: str = "", client_order_id: str = "") -> Order:
        """Cancel an open order from the exchange side (as a venue does on maintenance)."""
        with self.lock:
            order = self._find_open(symbol, order_id, client_order_id, "cancel")
            self._close(order, OrderStatus.CANCELED, "canceled by the exchange")
            return order.snapshot()

    # -- internals ---------------------------------------------------------------------------

    def _liquidity(self, order: OrderState) -> Decimal:
        """Return what an order may fill on one tick: its remainder, capped by the liquidity."""
        cap = self.config.liquidity
        if cap is None:
            return order.remaining
        # Whole steps only, so a fill never leaves a quantity the venue could not have traded.
        return min(order.remaining, snap_down(cap, self._rules[order.symbol].step_size))

    def _forget_beyond(self, closed: OrderState) -> None:
        """Keep closed (done for good); forget the oldest closed orders past max_orders_kept."""
        self._closed.append(closed)
        while len(self._closed) > self.config.max_orders_kept:
            old = self._closed.popleft()
            if self._orders.get(old.order_id) is old:
                del self._orders[old.order_id]
            if self._by_client_id.get((old.symbol, old.client_order_id)) is old:
                del self._by_client_id[(old.symbol, old.client_order_id)]

    def _find(self, symbol: str, order_id: str, client_order_id: str) -> OrderState:
        name = self.rules(symbol).symbol
        if not order_id and not client_order_id:
            raise ValidationError("order_id or client_order_id is required, received neither")
        order = (
            self._orders.get(order_id)
            if order_id
            else self._by_client_id.get((name, client_order_id))
        )
        if (
            order is None
            or order.symbol != name
            or (client_order_id and order.client_order_id != client_order_id)
        ):
            key = f"order_id {order_id!r}" if order_id else f"client_order_id {client_order_id!r}"
            raise OrderNotFoundError(f"order with {key} not found for {name}")
        return order

    def _find_open(self, symbol: str, order_id: str, client_order_id: str, verb: str) -> OrderState:
        order = self._find(symbol, order_id, client_order_id)
        if not order.status.is_open:
            raise OrderNotOpenError(
                f"order {order.order_id} (client id {order.client_order_id}) of "
                f"{order.symbol} is already {order.status}, cannot {verb}"
            )
        return order

    def _fill(self, order: OrderState, qty: Decimal, price: Decimal, *, is_maker: bool) -> None:
        if qty <= 0:
            return  # liquidity below one step: nothing trades on this tick
        position = self._positions[order.symbol]
        if order.reduce_only:
            held = position.quantity
            reducible = -held if order.side is Side.BUY else held
            qty = min(qty, max(reducible, ZERO))
            if qty <= 0:
                self._close(order, OrderStatus.CANCELED, "reduce-only order canceled: no position")
                return
        rules = self._rules[order.symbol]
        now = self.clock()
        notional = price * qty
        fee = notional * (rules.maker_fee_rate if is_maker else rules.taker_fee_rate)
        order.executed_qty += qty
        order.cum_quote += notional
        order.updated_ms = now
        order.status = (
            OrderStatus.FILLED
            if order.executed_qty >= order.quantity
            else OrderStatus.PARTIALLY_FILLED
        )
        trade = Trade(
            trade_id=self._ids.next_trade_id(),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=qty,
            fee=fee,
            fee_asset=rules.quote_asset,
            is_maker=is_maker,
            ts_ms=now,
        )
        self._portfolio.record(trade)
        if order.status is OrderStatus.FILLED:
            self._books[order.symbol].remove(order)
        self._emit(order, trade)
        if order.reduce_only and order.status.is_open and position.quantity == 0:
            self._close(
                order, OrderStatus.CANCELED, "reduce-only remainder canceled: position closed"
            )

    def _close(self, order: OrderState, status: OrderStatus, reason: str) -> None:
        self._books[order.symbol].remove(order)
        order.status = status
        order.reject_reason = reason
        order.updated_ms = self.clock()
        self._emit(order, None)

    def _emit(self, order: OrderState, trade: Trade | None) -> None:
        self._update_seq += 1
        if not order.status.is_open:
            self._forget_beyond(order)
        if self._order_listeners:
            update = OrderUpdate(order.snapshot(), trade, order.updated_ms, self._update_seq)
            for listener in self._order_listeners:
                listener(update)
