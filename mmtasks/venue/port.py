"""The Venue protocol: everything the worker and the connector ask of an exchange.

Two implementations ship: the simulator's `SimVenue` (in process, no gRPC) and the connector's
`ExchangeClient` (any venue, over the connector's gRPC wire). The
connector's server serves any Venue. Errors are mmtasks errors chosen by the response they need
(`mmtasks.errors`): ValidationError for a bad request, OrderNotFoundError for an unknown order or
one already closed when cancelled, TemporaryError when the venue cannot answer now,
AmbiguousOutcomeError when a change may or may not have happened. A rejected order is returned
with status REJECTED, not raised.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import Any, Protocol

from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.venue.types import (
    STREAMS,
    Account,
    CancelRequest,
    CancelResult,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    PlaceResult,
    Position,
    PriceTick,
    Stream,
    SymbolRules,
    TimeInForce,
    Trade,
)

Number = Decimal | str | int
# Called with a PriceTick, an OrderUpdate or a Kline; it must only hand the event off, never block.
Listener = Callable[[Any], None]


class Venue(Protocol):
    """An exchange as the worker and the connector see it; every method is synchronous.

    An implementation subclasses it and inherits `place_order` and `subscribe`, written here once
    over its own `place` (a validated request) and `listen` (a stream whose name is checked).
    """

    def place_order(
        self,
        symbol: str,
        side: Side | str,
        price: Number | None,
        quantity: Number,
        client_order_id: str = "",
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        order_type: OrderType | str = OrderType.LIMIT,
    ) -> tuple[Order, bool]:
        """Place an order; return (order, duplicate). A known client order id returns its order."""
        return self.place(
            OrderRequest(
                symbol=symbol,
                side=side,  # type: ignore[arg-type]  # OrderRequest parses "BUY" into Side.BUY
                quantity=quantity,  # type: ignore[arg-type]  # and decimal strings into Decimal
                price=price,  # type: ignore[arg-type]
                client_order_id=client_order_id,
                order_type=order_type,  # type: ignore[arg-type]
                time_in_force=time_in_force,  # type: ignore[arg-type]
                post_only=post_only,
                reduce_only=reduce_only,
            )
        )

    def place(self, request: OrderRequest) -> tuple[Order, bool]:
        """Place one validated order; return (order, duplicate). A REJECTED order is returned."""
        ...

    def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
        """Place many orders; each result holds its order or its error."""
        ...

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel an open order; OrderNotFoundError when unknown or already closed."""
        ...

    def batch_cancel(self, cancels: Sequence[CancelRequest]) -> list[CancelResult]:
        """Cancel many orders; each result holds its order or its error."""
        ...

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[Order]:
        """Cancel the open orders of a symbol whose client id starts with the prefix."""
        ...

    def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        """Return an order in any status by either id, None when the venue does not know it."""
        ...

    def open_orders(self, symbol: str = "") -> list[Order]:
        """Return the open orders of a symbol, or of every symbol when symbol is ''."""
        ...

    def positions(self, symbol: str = "") -> list[Position]:
        """Return the positions of a symbol, or of every symbol when symbol is ''."""
        ...

    def account(self) -> Account:
        """Return balances and PnL totals."""
        ...

    def symbol_info(self, symbol: str) -> SymbolRules:
        """Return the trading rules of a symbol; ValidationError when it is not traded."""
        ...

    def latest_price(self, symbol: str) -> PriceTick:
        """Return the last price tick of a symbol."""
        ...

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[Kline]:
        """Return the newest closed candles ending at or before end_ms (0: now), oldest first."""
        ...

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[Trade]:
        """Return the oldest trades at or after since_ms, oldest first (limit 0: 1000)."""
        ...

    def subscribe(
        self,
        stream: Stream,
        listener: Listener,
        *,
        symbols: Collection[str] = (),
        interval: str = "1m",
    ) -> None:
        """Call listener with every event of a stream, of `symbols` (empty: every symbol).

        "price" first delivers the last tick of every symbol, then each new one; "order" every
        order update, none dropped; "kline" the forming and closed candles of one interval.
        Raise ValidationError for an unknown symbol or interval.
        """
        if stream not in STREAMS:
            raise ValidationError(
                f"stream must be one of {', '.join(STREAMS)}, received {stream!r}"
            )
        self.listen(stream, listener, symbols, interval)

    def listen(
        self, stream: Stream, listener: Listener, symbols: Collection[str], interval: str
    ) -> None:
        """Subscribe listener to a stream whose name `subscribe` has checked."""
        ...

    def unsubscribe(self, stream: Stream, listener: Listener) -> None:
        """Stop calling a listener given to subscribe; a listener it does not hold (never
        subscribed, or already let go) is no error: the connector may ask twice."""
        ...
