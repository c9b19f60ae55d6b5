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
import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.pro
import redis

from mmtasks.alerts import alert
from mmtasks.budget import Priority, RateBudget, limits_for
from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus, Side, parse_symbol, trade_order
from mmtasks.errors import (
    AmbiguousOutcomeError,
    OrderNotFoundError,
    RateLimitedError,
    TemporaryError,
    UnknownSymbolError,
    ValidationError,
)
from mmtasks.venue.port import Listener, Number, order_request
from mmtasks.venue.types import (
    STREAMS,
    Account,
    Balance,
    CancelRequest,
    CancelResult,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    OrderUpdate,
    PlaceResult,
    Position,
    PriceTick,
    Stream,
    SymbolRules,
    TimeInForce,
    Trade,
)
from mmtasks.venues.ccxt.binance import DIALECTS, Dialect, d, request_weight
from mmtasks.venues.ccxt.config import CcxtConfig, check_base_url, rebase_urls
from mmtasks.venues.ccxt.errors import Duplicate, Refused, classify

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 30.0
RECONNECT_S = (0.2, 0.5, 1.0, 2.0, 5.0)
ZERO = Decimal(0)
STATS_EVERY_S = 1.0
# What the call being made is for: the budget serves cancels before entries before reads.
PRIORITY: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "venue_priority", default=Priority.READ
)


@dataclass(frozen=True)
class Cost:
    """What ccxt's rate-limiter cost becomes here: the call itself, so its weight is known."""

    api: Any
    method: str
    path: str
    params: dict[str, Any]
    ccxt_cost: Any


class Hooks:
    """What the hooked exchange hands to its venue: raw stream messages and REST answers."""

    def __init__(self) -> None:
        self.on_order: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_trade: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_kline: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_response: Callable[[int, dict[str, str]], None] = lambda c, h: None
        self.on_connected: Callable[[str], None] = lambda url: None
        self.throttle: Callable[[Any], Coroutine[Any, Any, Any]] | None = None


def hooked_class(exchange_id: str) -> type[Any]:
    """Return ccxt.pro's class of exchange_id with our hooks on its message handlers.

    A subclass, not a patch: each override hands the venue's raw message to the venue, then
    lets ccxt handle it as it always does.
    """
    base = getattr(ccxt.pro, exchange_id, None)
    if base is None:
        raise ValidationError(f"--venue {exchange_id!r} is not a ccxt exchange id")

    def guarded(name: str) -> Callable[..., Any]:
        def handler(self: Any, client: Any, message: Any) -> Any:
            try:
                getattr(self.mm_hooks, name)(message)
            except Exception:  # a hook never breaks ccxt's own handling
                log.exception("venue hook %s failed", name)
            return getattr(base, HANDLERS[name])(self, client, message)

        return handler

    def on_rest_response(
        self: Any,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        headers: Any,
        body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        with contextlib.suppress(Exception):
            self.mm_hooks.on_response(int(code or 0), dict(headers or {}))
        return base.on_rest_response(
            self, code, reason, url, method, headers, body, request_headers, request_body
        )

    def on_connected(self: Any, client: Any, message: Any = None) -> Any:
        with contextlib.suppress(Exception):
            self.mm_hooks.on_connected(str(getattr(client, "url", "")))
        return base.on_connected(self, client, message)

    def calculate_rate_limiter_cost(
        self: Any, api: Any, method: Any, path: Any, params: Any, config: Any = None
    ) -> Any:
        cost = base.calculate_rate_limiter_cost(self, api, method, path, params, config or {})
        return Cost(api, str(method), str(path), dict(params or {}), cost)

    async def throttle(self: Any, cost: Any = None) -> Any:
        hook = self.mm_hooks.throttle
        if hook is not None and isinstance(cost, Cost):
            return await hook(cost)
        return await base.throttle(self, cost.ccxt_cost if isinstance(cost, Cost) else cost)

    members: dict[str, Any] = {HANDLERS[name]: guarded(name) for name in HANDLERS}
    members["on_rest_response"] = on_rest_response
    members["on_connected"] = on_connected
    members["calculate_rate_limiter_cost"] = calculate_rate_limiter_cost
    members["throttle"] = throttle
    members["mm_hooks"] = Hooks()
    return type(f"MM{base.__name__}", (base,), members)


HANDLERS = {
    "on_order": "handle_order_update",
    "on_trade": "handle_trade",
    "on_kline": "handle_ohlcv",
}


class CcxtVenue:
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
        self._listeners: dict[tuple[Stream, Listener], tuple[frozenset[str], str]] = {}
        self._lock = threading.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seq = itertools.count(1)
        self._droppers: list[Callable[[], object]] = []
        self._client_ids: dict[str, str] = {}  # venue order id -> client id (trades lack it)
        self._fees: dict[str, tuple[Decimal, Decimal]] = {}
        self.budget: RateBudget | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.exchange: Any = self._run(self._open(), timeout_s=60)
        self._ours = self._symbol_map()
        with contextlib.suppress(Exception):  # rules without a round trip from now on
            self._run(self._prefetch_fees(), timeout_s=60)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise TemporaryError(f"the venue did not answer within {timeout_s:g}s") from None

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

    def close(self) -> None:
        """Stop the streams and the loop; release the exchange's sessions."""

        async def shutdown() -> None:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            await self.exchange.close()
            if self.budget is not None:
                await self.budget.close()

        with contextlib.suppress(Exception):
            self._run(shutdown(), timeout_s=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- symbols: our names and ccxt's, in one place ------------------------------------------

    def _symbol_map(self) -> dict[str, str]:
        ours: dict[str, str] = {}
        for market in self.exchange.markets.values():
            wanted = (
                market.get("spot")
                if self.dialect.spot
                else market.get("linear") and market.get("swap")
            )
            if wanted and market.get("active", True) is not False:
                ours[str(market["id"])] = str(market["symbol"])
        return ours

    def unified(self, symbol: str) -> str:
        """ccxt's name of our symbol (`BTCUSDT` -> `BTC/USDT:USDT` on perpetuals)."""
        name = parse_symbol(symbol)
        found = self._ours.get(name)
        if found is None:
            raise UnknownSymbolError(
                f"{self.config.exchange_id} lists no {'spot' if self.dialect.spot else 'perpetual'}"
                f" market {name}"
            )
        return found

    def served(self) -> list[str]:
        return [str(parse_symbol(s)) for s in self.config.symbols] or sorted(self._ours)

    # -- errors --------------------------------------------------------------------------------

    def _on_response(self, code: int, headers: dict[str, str]) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        if code in (418, 429):
            with contextlib.suppress(ValueError):
                self.retry_after_s = float(lower.get("retry-after", "0"))
        if self.budget is None:
            return
        loop = asyncio.get_running_loop()
        if code in (418, 429):
            reason = (
                f"HTTP {code} from {self.config.exchange_id}, Retry-After {self.retry_after_s:g}s"
            )
            wait = self.retry_after_s or 60.0
            self._background(loop.create_task(self._pause(wait, reason)))

        def figure(name: str) -> int | None:
            value = lower.get(name)
            return int(value) if value is not None and value.isdigit() else None

        used = figure("x-mbx-used-weight-1m")
        ten, minute = figure("x-mbx-order-count-10s"), figure("x-mbx-order-count-1m")
        if self.budget.may_correct(used, ten, minute):
            self._background(loop.create_task(self.budget.correct(used, ten, minute)))

    def _background(self, task: asyncio.Task[Any]) -> None:
        """Keep a fire-and-forget task referenced until it ends."""
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _throttle(self, cost: Any) -> None:
        assert self.budget is not None
        weight, orders = request_weight(cost.api, cost.method, cost.path, cost.params)
        try:
            await self.budget.draw(weight, orders, PRIORITY.get())
        except RateLimitedError:
            raise
        except Exception as exc:  # no budget, no call: the fleet's limit cannot be kept
            raise TemporaryError(f"the rate budget in Redis cannot be read ({exc})") from exc

    async def _pause(self, seconds: float, reason: str) -> None:
        assert self.budget is not None
        with contextlib.suppress(Exception):
            await self.budget.pause(seconds, reason)
        loop = asyncio.get_running_loop()
        loop.run_in_executor(
            None,
            _alert_pause,
            self.config.budget_redis_url,
            self.config.exchange_id,
            seconds,
            reason,
        )

    async def _flush_stats(self) -> None:
        assert self.budget is not None
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            with contextlib.suppress(Exception):
                await self.budget.flush()

    async def _prefetch_fees(self) -> None:
        """Ask the account's fee rates once (one symbol: Binance's rates are the account's
        tier, the same for every symbol), so symbol_info needs no round trip."""
        PRIORITY.set(Priority.SETUP)
        served = [self.unified(s) for s in self.served()]
        if served:
            rates = await self._fetch_fee_rates(served[0])
            self._fees.update(dict.fromkeys(served, rates))

    async def _call(self, coro: Coroutine[Any, Any, T], *, changes: bool = False) -> T:
        try:
            return await coro
        except Exception as exc:
            raise classify(exc, changes=changes, retry_after_s=self.retry_after_s) from exc

    # -- orders --------------------------------------------------------------------------------

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
        request = order_request(
            symbol,
            side,
            price,
            quantity,
            client_order_id,
            post_only,
            reduce_only,
            time_in_force,
            order_type,
        )
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

    async def _fetch(
        self, unified: str, *, order_id: str = "", client_order_id: str = ""
    ) -> Order | None:
        params = {"clientOrderId": client_order_id} if client_order_id else {}
        try:
            raw = await self._call(self.exchange.fetch_order(order_id or None, unified, params))
        except OrderNotFoundError:
            return None
        order = self.dialect.order(raw["info"])
        self._client_ids[order.order_id] = order.client_order_id
        return order

    def _now(self) -> int:
        return int(time.time() * 1000)

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

    # -- account and market data -------------------------------------------------------------

    def positions(self, symbol: str = "") -> list[Position]:
        """Return positions (flat ones too) of a symbol, or of every symbol served."""
        names = [str(parse_symbol(symbol))] if symbol else self.served()
        for name in names:
            self.unified(name)
        if self.dialect.spot:
            return self._spot_positions(names)
        rows = self._run(self._call(self.exchange.fapiPrivateV3GetPositionRisk()))
        by_symbol = {str(r["symbol"]): r for r in rows}
        out = []
        for name in names:
            raw = by_symbol.get(name, {})
            out.append(
                Position(
                    symbol=name,
                    quantity=d(raw.get("positionAmt")),
                    entry_price=d(raw.get("entryPrice")),
                    realized_pnl=ZERO,  # the venue keeps no per-position realized PnL here
                    unrealized_pnl=d(raw.get("unRealizedProfit")),
                    mark_price=d(raw.get("markPrice")),
                    fees=ZERO,
                )
            )
        return out

    def _spot_positions(self, names: list[str]) -> list[Position]:
        balances = {b.asset: b for b in self.account().balances}
        out = []
        for name in names:
            base = self.exchange.market(self.unified(name))["baseId"]
            held = balances.get(base)
            qty = held.free + held.locked if held else ZERO
            out.append(Position(name, qty, ZERO, ZERO, ZERO, ZERO, ZERO))
        return out

    def account(self) -> Account:
        """Return balances (what the venue reports); PnL totals are the ledger's, not here."""
        raw = self._run(self._call(self.exchange.fetch_balance()))["info"]
        if self.dialect.spot:
            balances = tuple(
                Balance(str(b["asset"]), d(b["free"]), d(b["locked"]))
                for b in raw.get("balances", [])
            )
        else:
            balances = tuple(
                Balance(str(a["asset"]), d(a.get("availableBalance")))
                for a in raw.get("assets", [])
            )
        return Account(balances, ZERO, ZERO)

    def symbol_info(self, symbol: str) -> SymbolRules:
        """Return the trading rules of a symbol from the venue's markets and its fee rates."""
        unified = self.unified(symbol)
        market = self.exchange.market(unified)
        filters = {f["filterType"]: f for f in market["info"].get("filters", [])}
        notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL") or {}
        maker, taker = self._fee_rates(unified)
        return SymbolRules(
            symbol=str(market["id"]),
            base_asset=str(market["baseId"]),
            quote_asset=str(market["quoteId"]),
            tick_size=d(filters.get("PRICE_FILTER", {}).get("tickSize")),
            step_size=d(filters.get("LOT_SIZE", {}).get("stepSize")),
            min_qty=d(filters.get("LOT_SIZE", {}).get("minQty")),
            min_notional=d(notional.get("notional") or notional.get("minNotional")),
            maker_fee_rate=maker,
            taker_fee_rate=taker,
            venue=self.config.exchange_id,
            spot=self.dialect.spot,
            post_only=True,
            reduce_only=not self.dialect.spot,
            client_id_max_len=36,
        )

    def _fee_rates(self, unified: str) -> tuple[Decimal, Decimal]:
        if unified not in self._fees:
            self._fees[unified] = self._run(self._fetch_fee_rates(unified))
        return self._fees[unified]

    async def _fetch_fee_rates(self, unified: str) -> tuple[Decimal, Decimal]:
        try:
            raw = (await self._call(self.exchange.fetch_trading_fee(unified)))["info"]
            if self.dialect.spot:
                return d(raw["makerCommission"]), d(raw["takerCommission"])
            return d(raw["makerCommissionRate"]), d(raw["takerCommissionRate"])
        except Exception as exc:  # keys without that permission: the market's defaults
            log.warning("fee rates of %s unknown (%s): the market's defaults", unified, exc)
            market = self.exchange.market(unified)
            return Decimal(str(market["maker"])), Decimal(str(market["taker"]))

    def latest_price(self, symbol: str) -> PriceTick:
        """Return the last price of a symbol."""
        unified = self.unified(symbol)
        raw = self._run(self._call(self.exchange.fetch_ticker(unified)))["info"]
        return PriceTick(
            symbol=parse_symbol(symbol),
            price=d(raw["lastPrice"]),
            ts_event_ms=int(raw.get("closeTime") or 0),
            seq=int(raw.get("lastId") or 0),
        )

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[Kline]:
        """Return the newest closed candles ending at or before end_ms (0: now), oldest first."""
        market_id = self.exchange.market(self.unified(symbol))["id"]
        request: dict[str, Any] = {
            "symbol": market_id,
            "interval": interval,
            "limit": min(limit + 1, 1500),
        }
        if end_ms:
            request["endTime"] = end_ms
        fetch = (
            self.exchange.publicGetKlines
            if self.dialect.spot
            else self.exchange.fapiPublicGetKlines
        )
        rows = self._run(self._call(fetch(request)))
        now = self._now()
        out = [
            Kline(
                parse_symbol(symbol),
                interval,
                int(r[0]),
                int(r[6]),
                d(r[1]),
                d(r[2]),
                d(r[3]),
                d(r[4]),
                d(r[5]),
                True,
            )
            for r in rows
            if int(r[6]) < (end_ms or now)
        ]
        return out[-limit:]

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[Trade]:
        """Return the oldest trades at or after since_ms, oldest first (limit 0: 1000)."""
        names = [str(parse_symbol(symbol))] if symbol else self.served()
        wanted = limit or 1000

        async def fetch() -> list[Trade]:
            out: list[Trade] = []
            for name in names:
                rows = await self._call(
                    self.exchange.fetch_my_trades(
                        self.unified(name), since_ms or None, min(wanted, 1000)
                    )
                )
                out += [self.dialect.trade(r["info"], self._client_ids) for r in rows]
            missing = {t.order_id: t.symbol for t in out if not t.client_order_id}
            for order_id, sym in missing.items():  # fills carry no client id: ask their order
                with contextlib.suppress(Exception):
                    await self._fetch(self.unified(sym), order_id=order_id)
            out = [
                t if t.client_order_id else _trade_with_client_id(t, self._client_ids) for t in out
            ]
            return sorted(out, key=lambda t: trade_order(t.ts_ms, t.trade_id))[:wanted]

        return self._run(fetch())

    # -- streams -------------------------------------------------------------------------------

    def add_stream_dropper(self, dropper: Callable[[], object]) -> None:
        """Call dropper (end every downstream stream) whenever a venue socket is lost."""
        self._droppers.append(dropper)

    def subscribe(
        self,
        stream: Stream,
        listener: Listener,
        *,
        symbols: Collection[str] = (),
        interval: str = "1m",
    ) -> None:
        """Call listener with every event of a stream (see `Venue.subscribe`)."""
        if stream not in STREAMS:
            raise ValidationError(
                f"stream must be one of {', '.join(STREAMS)}, received {stream!r}"
            )
        wanted = frozenset(str(parse_symbol(s)) for s in symbols)
        for symbol in wanted:
            self.unified(symbol)
        if stream == "price":
            for symbol in sorted(wanted or set(self.served())):
                listener(self.latest_price(symbol))
        with self._lock:
            self._listeners[(stream, listener)] = (wanted, interval)
        self._loop.call_soon_threadsafe(self._ensure_watch, stream, interval)

    def unsubscribe(self, stream: Stream, listener: Listener) -> None:
        """Stop calling a listener given to subscribe."""
        with self._lock:
            self._listeners.pop((stream, listener), None)

    def _targets(self, stream: Stream, symbol: str, interval: str = "") -> list[Listener]:
        with self._lock:
            return [
                listener
                for (kind, listener), (wanted, want_interval) in self._listeners.items()
                if kind == stream
                and (not wanted or symbol in wanted)
                and (stream != "kline" or want_interval == interval)
            ]

    def _ensure_watch(self, stream: Stream, interval: str) -> None:
        key = f"{stream}:{interval}" if stream == "kline" else stream
        if key in self._tasks and not self._tasks[key].done():
            return
        self._tasks[key] = self._loop.create_task(self._watch(stream, interval))

    async def _watch(self, stream: Stream, interval: str) -> None:
        """Keep one ccxt watch loop open; on a lost socket, end the downstream streams."""
        unified = [self.unified(s) for s in self.served()]
        failures = 0
        while True:
            try:
                if stream == "order":
                    await self.exchange.watch_orders()
                elif stream == "price":
                    await self.exchange.watch_trades_for_symbols(unified)
                else:
                    await self.exchange.watch_ohlcv_for_symbols([[u, interval] for u in unified])
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RECONNECT_S[min(failures, len(RECONNECT_S) - 1)]
                failures += 1
                log.warning(
                    "%s stream of %s lost (%s): downstream streams end; reconnecting in %.1fs",
                    stream,
                    self.config.exchange_id,
                    exc,
                    delay,
                )
                self._drop_downstream()
                await asyncio.sleep(delay)

    def _on_socket_connected(self, url: str) -> None:
        # A socket that is (back) up: end the downstream streams once more, so the bridge's
        # reconcile runs after it, not before. A fill made while it was down (or before it
        # first connected) is then in the venue's trade list when the bridge asks, and every
        # later one comes on the socket: between the two, nothing is missed.
        log.info(
            "%s socket connected (%s; the path, which may hold a listen key, is not logged): "
            "downstream streams restart",
            self.config.exchange_id,
            urlsplit(url).netloc,
        )
        self._drop_downstream()

    def _drop_downstream(self) -> None:
        for dropper in list(self._droppers):
            with contextlib.suppress(Exception):
                dropper()

    def _on_order_message(self, message: dict[str, Any]) -> None:
        parsed = self.dialect.order_event(message)
        if parsed is None:
            return
        order, trade, ts = parsed
        self._client_ids[order.order_id] = order.client_order_id
        update = OrderUpdate(order, trade, ts, next(self._seq))
        for listener in self._targets("order", order.symbol):
            listener(update)

    def _on_trade_message(self, message: dict[str, Any]) -> None:
        tick = self.dialect.trade_tick(message)
        if tick is not None:
            for listener in self._targets("price", tick.symbol):
                listener(tick)

    def _on_kline_message(self, message: dict[str, Any]) -> None:
        kline = self.dialect.kline(message)
        if kline is not None:
            for listener in self._targets("kline", kline.symbol, kline.interval):
                listener(kline)


def _alert_pause(redis_url: str, venue: str, seconds: float, reason: str) -> None:
    """Tell the operators the venue paused everyone (from a thread: alert() is blocking)."""
    with contextlib.suppress(Exception), redis.Redis.from_url(redis_url) as client:
        alert(
            client,
            f"venue-paused:{venue}",
            f"{venue}: every request paused for {seconds:g}s",
            f"{reason}. No process of the fleet calls the venue until the pause ends; "
            "symbols wait DEGRADED and trade again by themselves.",
            severity="failure",
            urgent=True,
        )


def _rejected(request: OrderRequest, reason: str, now_ms: int) -> Order:
    """The order the venue refused, as the port reports it: REJECTED with the venue's words."""
    return Order(
        symbol=request.symbol,
        order_id="",
        client_order_id=request.client_order_id,
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        price=request.price or ZERO,
        quantity=request.quantity,
        executed_qty=ZERO,
        avg_price=ZERO,
        status=OrderStatus.REJECTED,
        post_only=request.post_only,
        reduce_only=request.reduce_only,
        created_ms=now_ms,
        updated_ms=now_ms,
        reject_reason=reason,
    )


def _with_client_id(order: Order, client_id: str) -> Order:
    return replace(order, client_order_id=client_id)


def _trade_with_client_id(trade: Trade, client_ids: dict[str, str]) -> Trade:
    return replace(trade, client_order_id=client_ids.get(trade.order_id, ""))
