"""The simulated exchange as a `Venue`, in process: no gRPC, no threads, milliseconds per call.

`SimVenue()` trades BTCUSDT and ETHUSDT at their built-in start prices; pass an engine for
other symbols, rules, liquidity or a fake clock. The connector serves it over gRPC
(`python -m mmtasks.connector --sim`); tests and tools may use it directly, and move the market
with `inject_price`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

from mmtasks.decimals import parse_decimal
from mmtasks.errors import OrderNotFoundError, ValidationError
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.klines import interval_ms
from mmtasks.venue import types as vt
from mmtasks.venue.port import Listener, Number, Venue


class SimVenue(Venue):
    """The `Venue` of one SimExchange; every method is thread-safe."""

    def __init__(self, engine: SimExchange | None = None) -> None:
        self.engine = engine or SimExchange()
        self._lock = threading.Lock()
        self._listeners: dict[tuple[vt.Stream, Listener], Listener] = {}

    # -- orders ------------------------------------------------------------------------------

    def place(self, request: vt.OrderRequest) -> tuple[vt.Order, bool]:
        """Place one validated order; return (order, duplicate)."""
        return self.engine.place_order(request)

    def batch_place(self, orders: Sequence[vt.OrderRequest]) -> list[vt.PlaceResult]:
        """Place many orders; each result holds its order or its error."""
        results = []
        for request in orders:
            try:
                order, duplicate = self.engine.place_order(request)
            except Exception as exc:  # per item, as a venue's batch answers: classified later
                results.append(vt.PlaceResult(None, error=exc))
            else:
                results.append(vt.PlaceResult(order, duplicate))
        return results

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> vt.Order:
        """Cancel an open order; OrderNotFoundError (or OrderNotOpenError) when it cannot be."""
        return self.engine.cancel_order(symbol, order_id or "", client_order_id or "")

    def batch_cancel(self, cancels: Sequence[vt.CancelRequest]) -> list[vt.CancelResult]:
        """Cancel many orders; each result holds its order or its error."""
        results = []
        for c in cancels:
            try:
                order = self.engine.cancel_order(c.symbol, c.order_id, c.client_order_id)
            except Exception as exc:  # per item, as a venue's batch answers: classified later
                results.append(vt.CancelResult(None, exc))
            else:
                results.append(vt.CancelResult(order))
        return results

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[vt.Order]:
        """Cancel the open orders of a symbol whose client id starts with the prefix."""
        return self.engine.cancel_all(symbol, client_order_id_prefix)

    def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> vt.Order | None:
        """Return an order in any status, None when the exchange does not know it."""
        try:
            return self.engine.get_order(symbol, order_id or "", client_order_id or "")
        except OrderNotFoundError:
            return None

    def open_orders(self, symbol: str = "") -> list[vt.Order]:
        """Return the open orders of a symbol, or of every symbol when symbol is ''."""
        return self.engine.open_orders(symbol)

    # -- account and market data -------------------------------------------------------------

    def positions(self, symbol: str = "") -> list[vt.Position]:
        """Return the positions of a symbol, or of every symbol when symbol is ''."""
        return self.engine.positions(symbol)

    def account(self) -> vt.Account:
        """Return balances and PnL totals."""
        return self.engine.account()

    def symbol_info(self, symbol: str) -> vt.SymbolRules:
        """Return the trading rules of a symbol; UnknownSymbolError when it is not traded."""
        return self.engine.rules(symbol)

    def latest_price(self, symbol: str) -> vt.PriceTick:
        """Return the last price tick of a symbol (seq 0 is the start price)."""
        return self.engine.latest_price(symbol)

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[vt.Kline]:
        """Return the newest closed candles ending at or before end_ms (0: now), oldest first."""
        return self.engine.klines(symbol, interval, limit or 100, end_ms or None)

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[vt.Trade]:
        """Return the oldest trades at or after since_ms, oldest first (limit 0: 1000)."""
        return self.engine.trades(symbol, since_ms, limit or 1000)

    # -- streams -----------------------------------------------------------------------------

    def listen(
        self, stream: vt.Stream, listener: Listener, symbols: Collection[str], interval: str
    ) -> None:
        """Call listener with every event of a stream (see `Venue.subscribe`)."""
        wanted = frozenset(self.engine.rules(s).symbol for s in symbols)
        if stream == "kline":
            self._check_interval(interval)
        deliver = _filtered(stream, listener, wanted, interval)
        with self.engine.lock:  # the last ticks and the next ones, with nothing in between
            if stream == "price":
                for tick in self.engine.latest_prices():
                    deliver(tick)
            with self._lock:
                self._listeners[(stream, listener)] = deliver
            self.engine.add_listener(stream, deliver)

    def unsubscribe(self, stream: vt.Stream, listener: Listener) -> None:
        """Stop calling a listener given to subscribe."""
        with self._lock:
            deliver = self._listeners.pop((stream, listener), None)
        if deliver is not None:
            self.engine.remove_listener(stream, deliver)

    def _check_interval(self, interval: str) -> None:
        known = self.engine.config.kline_intervals
        if interval not in known:
            interval_ms(interval)  # names the valid spellings when it is no interval at all
            raise ValidationError(
                f"interval must be one of {', '.join(known)}, received {interval!r}"
            )

    # -- test control ------------------------------------------------------------------------

    def inject_price(
        self, symbol: str, price: Number, volume: Number | None = None
    ) -> vt.PriceTick:
        """Trade the market at a price now: fill every resting order it crosses; return the tick."""
        return self.engine.apply_price(
            symbol,
            parse_decimal(price, "price", positive=True),
            None if volume is None else parse_decimal(volume, "volume", non_negative=True),
        )


def _filtered(
    stream: vt.Stream, listener: Listener, symbols: frozenset[str], interval: str
) -> Listener:
    """Return listener, or a wrapper passing on only the symbols and interval asked for."""
    if not symbols and stream != "kline":
        return listener  # the hot paths: no wrapper, no check per event

    def deliver(event: vt.PriceTick | vt.Kline | vt.OrderUpdate) -> None:
        if isinstance(event, vt.Kline) and event.interval != interval:
            return
        symbol = event.order.symbol if isinstance(event, vt.OrderUpdate) else event.symbol
        if not symbols or symbol in symbols:
            listener(event)

    return deliver
