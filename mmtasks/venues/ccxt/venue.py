"""A real exchange as a `Venue`, through ccxt (async, with its websocket methods).

ccxt runs on the venue's own event loop, on its own thread; each `Venue` method is synchronous
for its caller (the connector runs them off its gRPC loop) and waits for its coroutine there.
Money never passes through ccxt's floats: orders, fills, positions and candles are read from the
venue's own strings (`info`, and the raw stream messages handed to the hooks below).

- Orders carry our deterministic client id as the venue's own field (`newClientOrderId`), so a
  retry is idempotent; a create whose answer is lost is resolved by looking the id up, never by
  sending again; "duplicate" answers return the existing order with duplicate=True.
- Streams: the user stream (orders and fills, in the venue's order), trades as price ticks, and
  candles, each kept open by a ccxt `watch_*` loop. When a socket drops, every gRPC stream of the
  connector is ended (`add_stream_dropper`), and again when it is back up: the bridge reconnects
  and reconciles every symbol after the socket is up, and fills missed meanwhile come back
  through `trades()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from mmtasks.budget import Priority, RateBudget, limits_for
from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus
from mmtasks.errors import (
    AmbiguousOutcomeError,
    ValidationError,
)
from mmtasks.venue.port import Listener, Venue
from mmtasks.venue.types import (
    CancelRequest,
    CancelResult,
    Order,
    OrderRequest,
    OrderType,
    PlaceResult,
    Stream,
)
from mmtasks.venues.ccxt.binance import DIALECTS, ZERO, Dialect
from mmtasks.venues.ccxt.config import CcxtConfig, check_base_url, rebase_urls
from mmtasks.venues.ccxt.core import PRIORITY, RecentIds
from mmtasks.venues.ccxt.errors import Duplicate, Refused, classify
from mmtasks.venues.ccxt.hooks import Hooks, hooked_class
from mmtasks.venues.ccxt.streams import CcxtStreams

log = logging.getLogger(__name__)


class CcxtVenue(CcxtStreams, Venue):
    """The `Venue` of one ccxt exchange (Binance USDⓈ-M perpetuals and spot)."""

    blocking = True  # each call waits for the network: callers run it off their event loop

    def __init__(self, config: CcxtConfig) -> None:
        dialect = DIALECTS.get(config.exchange_id)
        if dialect is None:
            raise ValidationError(
                f"--venue {config.exchange_id!r} has no adapter yet; supported: "
                f"{', '.join(sorted(DIALECTS))} (see docs/venue.md, 'Adding a real venue')"
            )
        self.config = config
        self.dialect: Dialect = dialect
        self.retry_after_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"venue-{config.exchange_id}", daemon=True
        )
        self._thread.start()
        self._listeners: dict[tuple[Stream, Listener], tuple[frozenset[str], str, Listener]] = {}
        self._lock = threading.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seq = itertools.count(1)
        self._droppers: list[Callable[[], object]] = []
        self._client_ids = RecentIds()  # venue order id -> client id (trades lack it)
        self._fees: dict[str, tuple[Decimal, Decimal]] = {}
        self.budget: RateBudget | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.exchange: Any = self._run(self._open(), timeout_s=60)
        self._ours = self._symbol_map()
        with contextlib.suppress(Exception):  # rules without a round trip from now on
            self._run(self._prefetch_fees(), timeout_s=60)

    async def _open(self) -> Any:
        cls = hooked_class(self.config.exchange_id)
        options = {**self.dialect.options, **self.config.options}
        exchange = cls(
            {
                "apiKey": self.config.api_key,
                "secret": self.config.secret,
                "enableRateLimit": True,
                "timeout": self.config.timeout_ms,
                "options": options,
            }
        )
        hooks = Hooks()
        hooks.on_order = self._on_order_message
        hooks.on_trade = self._on_trade_message
        hooks.on_kline = self._on_kline_message
        hooks.on_response = self._on_response
        hooks.on_connected = self._on_socket_connected
        if self.config.budget_redis_url:
            self.budget = RateBudget(
                self.config.budget_redis_url,
                self.config.exchange_id,
                limits_for(self.config.exchange_id, self.config.budget_limits),
                ip=self.config.budget_ip,
                api_key=self.config.api_key,
            )
            hooks.throttle = self._throttle
            self._tasks["budget-stats"] = asyncio.get_running_loop().create_task(
                self._flush_stats()
            )
        exchange.mm_hooks = hooks
        if self.config.testnet:
            exchange.set_sandbox_mode(True)
        if self.config.base_url:
            exchange.urls["api"] = rebase_urls(
                exchange.urls["api"], check_base_url(self.config.base_url)
            )
        try:
            PRIORITY.set(Priority.SETUP)
            await exchange.load_markets()
        except Exception as exc:
            await exchange.close()
            raise classify(exc, changes=False) from exc
        return exchange

    # -- orders --------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> tuple[Order, bool]:
        """Place one validated order as a batch of one; return (order, duplicate)."""
        [result] = self.batch_place([request])
        if result.error is not None:
            raise result.error
        assert result.order is not None
        return result.order, result.duplicate

    def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
        """Place many orders at once (concurrently); each result holds its order or its error."""

        async def all_of() -> list[PlaceResult]:
            return list(await asyncio.gather(*(self._place(r) for r in orders)))

        return self._run(all_of())

    async def _place(self, request: OrderRequest) -> PlaceResult:
        PRIORITY.set(Priority.CLOSE if request.reduce_only else Priority.ENTRY)
        try:
            unified = self.unified(request.symbol)
            args, params = self._create_args(unified, request)
        except ValidationError as exc:
            return PlaceResult(None, error=exc)
        try:
            created = await self.exchange.create_order(*args, params=params)
        except Exception as exc:
            outcome = classify(exc, changes=True, creates=True, retry_after_s=self.retry_after_s)
            return await self._settle(request, unified, outcome)
        order = self.dialect.order(created["info"])
        self._client_ids[order.order_id] = order.client_order_id
        return PlaceResult(order, False)

    def _create_args(self, unified: str, request: OrderRequest) -> tuple[list[Any], dict[str, Any]]:
        quantity = canon(request.quantity)
        sent_qty = self.exchange.amount_to_precision(unified, quantity)
        if Decimal(sent_qty) != request.quantity:
            raise ValidationError(
                f"quantity {quantity} is not a multiple of {request.symbol}'s step size"
            )
        price = None
        if request.order_type is OrderType.LIMIT:
            assert request.price is not None
            price = canon(request.price)
            if Decimal(self.exchange.price_to_precision(unified, price)) != request.price:
                raise ValidationError(f"price {price} is not on {request.symbol}'s tick size")
        params: dict[str, Any] = {}
        if request.client_order_id:
            params["clientOrderId"] = request.client_order_id
        if request.post_only:
            params["postOnly"] = True
        elif request.order_type is OrderType.LIMIT:
            params["timeInForce"] = request.time_in_force.value
        if request.reduce_only and not self.dialect.spot:
            params["reduceOnly"] = True  # a spot sell is bounded by what is held already
        kind = "limit" if request.order_type is OrderType.LIMIT else "market"
        return [unified, kind, request.side.value.lower(), sent_qty, price], params

    async def _settle(self, request: OrderRequest, unified: str, outcome: Exception) -> PlaceResult:
        """Turn a failed create into its outcome: refused, the existing order, or ambiguous."""
        if isinstance(outcome, Refused):
            return PlaceResult(_rejected(request, outcome.reason, self._now()), False)
        if isinstance(outcome, Duplicate | AmbiguousOutcomeError) and request.client_order_id:
            try:
                found = await self._fetch(unified, client_order_id=request.client_order_id)
            except Exception as exc:  # the look-up failed too: the next step looks again
                log.warning(
                    "looking up %s after %s failed: %s", request.client_order_id, outcome, exc
                )
                found = None
            if found is not None:
                return PlaceResult(found, isinstance(outcome, Duplicate))
            if isinstance(outcome, Duplicate):
                outcome = AmbiguousOutcomeError(f"{outcome} but the order is not found by its id")
        return PlaceResult(None, error=outcome)

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel an open order; OrderNotFoundError when unknown or already closed."""
        [result] = self.batch_cancel([CancelRequest(symbol, order_id or "", client_order_id or "")])
        if result.error is not None:
            raise result.error
        assert result.order is not None
        return result.order

    def batch_cancel(self, cancels: Sequence[CancelRequest]) -> list[CancelResult]:
        """Cancel many orders at once; each result holds its order or its error."""

        async def one(c: CancelRequest) -> CancelResult:
            PRIORITY.set(Priority.CANCEL)
            try:
                unified = self.unified(c.symbol)
                params = (
                    {"clientOrderId": c.client_order_id}
                    if c.client_order_id and not c.order_id
                    else {}
                )
                raw = await self._call(
                    self.exchange.cancel_order(c.order_id or None, unified, params), changes=True
                )
                order = self.dialect.order(raw["info"])
                if c.client_order_id and not order.client_order_id:
                    order = _with_client_id(order, c.client_order_id)
                return CancelResult(order)
            except Exception as exc:
                return CancelResult(None, exc)

        async def all_of() -> list[CancelResult]:
            return list(await asyncio.gather(*(one(c) for c in cancels)))

        return self._run(all_of())

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[Order]:
        """Cancel the open orders of a symbol whose client id starts with the prefix."""
        victims = [
            o
            for o in self.open_orders(symbol)
            if o.client_order_id.startswith(client_order_id_prefix)
        ]
        results = self.batch_cancel([CancelRequest(o.symbol, o.order_id) for o in victims])
        return [r.order for r in results if r.order is not None]

    def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        """Return an order in any status by either id, None when the venue does not know it."""
        if not order_id and not client_order_id:
            raise ValidationError("order_id or client_order_id is required, received neither")
        unified = self.unified(symbol)
        return self._run(
            self._fetch(unified, order_id=order_id or "", client_order_id=client_order_id or "")
        )

    def open_orders(self, symbol: str = "") -> list[Order]:
        """Return the open orders of a symbol, or of every symbol served when symbol is ''."""

        async def fetch() -> list[Order]:
            targets = [self.unified(symbol)] if symbol else [self.unified(s) for s in self.served()]
            out: list[Order] = []
            for unified in targets:
                rows = await self._call(self.exchange.fetch_open_orders(unified))
                out += [self.dialect.order(r["info"]) for r in rows]
            for order in out:
                self._client_ids[order.order_id] = order.client_order_id
            return sorted(out, key=lambda o: (o.created_ms, o.order_id))

        return self._run(fetch())


def _rejected(request: OrderRequest, reason: str, now_ms: int) -> Order:
    """The order the venue refused, as the port reports it: REJECTED with the venue's words."""
    return Order(
        symbol=request.symbol,
        order_id="",
        client_order_id=request.client_order_id,
        price=request.price or ZERO,
        executed_qty=ZERO,
        avg_price=ZERO,
        status=OrderStatus.REJECTED,
        created_ms=now_ms,
        updated_ms=now_ms,
        reject_reason=reason,
        **request.terms(),
    )


def _with_client_id(order: Order, client_id: str) -> Order:
    return replace(order, client_order_id=client_id)
