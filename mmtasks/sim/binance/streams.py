"""The simulator's websockets: market streams and user data streams, as Binance pushes them.

Engine events arrive on the engine's thread (a feed round, or a REST call that fills); each is
formatted there and handed to the connection's queue on the event loop, in the engine's order.
A connection's writer drains its queue. Closing every user socket (`drop_user_streams`) is how a
test drops the user stream while orders fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from mmtasks.domain import OrderStatus
from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.markets import Market
from mmtasks.venue.types import Kline, OrderUpdate, PriceTick

log = logging.getLogger(__name__)
QUEUE_MAX = 100_000  # events a slow reader may lag before its socket is closed


def execution_type(update: OrderUpdate) -> str:
    """Binance's `x` of an order update: what happened to the order."""
    if update.last_trade is not None:
        return "TRADE"
    status = update.order.status
    if status is OrderStatus.NEW:
        return "NEW"
    return "CANCELED" if status is OrderStatus.CANCELED else "EXPIRED"


def _execution(update: OrderUpdate) -> dict[str, Any]:
    """The fields both user streams give an order update, under Binance's one-letter keys."""
    o, t = update.order, update.last_trade
    return {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side.value,
        "q": shapes.num(o.quantity),
        "p": shapes.num(o.price),
        "x": execution_type(update),
        "X": o.status.value,
        "i": int(o.order_id),
        "l": shapes.num(t.quantity) if t else "0",
        "z": shapes.num(o.executed_qty),
        "L": shapes.num(t.price) if t else "0",
        "n": shapes.num(t.fee) if t else "0",
        "T": update.ts_event_ms,
        "m": t.is_maker if t else False,
    }


def futures_order_event(update: OrderUpdate) -> dict[str, Any]:
    """ORDER_TRADE_UPDATE of the USDⓈ-M user stream."""
    o, t = update.order, update.last_trade
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": update.ts_event_ms,
        "T": update.ts_event_ms,
        "o": {
            **_execution(update),
            "o": o.order_type.value,
            "f": "GTX" if o.post_only else o.time_in_force.value,
            "ap": shapes.num(o.avg_price),
            "sp": "0",
            "N": t.fee_asset if t else "USDT",
            "t": int(t.trade_id) if t else 0,
            "b": "0",
            "a": "0",
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": o.order_type.value,
            "ps": "BOTH",
            "cp": False,
            "rp": "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "NONE",
            "pm": "NONE",
            "gtd": 0,
        },
    }


def spot_order_event(update: OrderUpdate) -> dict[str, Any]:
    """executionReport of the spot user stream."""
    o, t = update.order, update.last_trade
    return {
        "e": "executionReport",
        "E": update.ts_event_ms,
        **_execution(update),
        "o": shapes.spot_type(o),
        "f": "GTC" if o.post_only else o.time_in_force.value,
        "P": "0",
        "F": "0",
        "g": -1,
        "C": o.client_order_id if o.status is OrderStatus.CANCELED else "",
        "r": "NONE",
        "N": t.fee_asset if t else None,
        "t": int(t.trade_id) if t else -1,
        "I": 0,
        "w": o.status.is_open,
        "M": False,
        "O": o.created_ms,
        "Z": shapes.num(o.avg_price * o.executed_qty),
        "Y": shapes.num(t.price * t.quantity) if t else "0",
        "Q": "0",
        "W": o.created_ms,
        "V": "NONE",
    }


def market_events(tick: PriceTick, stream: str, futures: bool) -> dict[str, Any] | None:
    """The event of one market stream (`<symbol>@<name>`) for a new price tick, if it has one."""
    _, _, name = stream.partition("@")
    price, qty = shapes.num(tick.price), shapes.num(tick.volume)
    base = {"E": tick.ts_event_ms, "s": tick.symbol}
    if name == "trade":
        event = {"e": "trade", **base, "T": tick.ts_event_ms, "t": tick.seq, "p": price, "q": qty}
        event.update({"X": "MARKET", "m": False} if futures else {"m": False, "M": True})
        return event
    if name == "aggTrade":
        return {
            "e": "aggTrade",
            **base,
            "a": tick.seq,
            "p": price,
            "q": qty,
            "f": tick.seq,
            "l": tick.seq,
            "T": tick.ts_event_ms,
            "m": False,
        }
    if name == "miniTicker":
        return {
            "e": "24hrMiniTicker",
            **base,
            "c": price,
            "o": price,
            "h": price,
            "l": price,
            "v": "0",
            "q": "0",
        }
    if name == "ticker":
        return {
            "e": "24hrTicker",
            **base,
            "p": "0",
            "P": "0",
            "w": price,
            "c": price,
            "Q": qty,
            "o": price,
            "h": price,
            "l": price,
            "v": "0",
            "q": "0",
            "O": tick.ts_event_ms - 86_400_000,
            "C": tick.ts_event_ms,
            "F": 0,
            "L": tick.seq,
            "n": tick.seq,
        }
    return None


def kline_event(k: Kline, now_ms: int) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": now_ms,
        "s": k.symbol,
        "k": {
            "t": k.open_ms,
            "T": k.close_ms,
            "s": k.symbol,
            "i": k.interval,
            "f": 0,
            "L": 0,
            "o": shapes.num(k.open),
            "c": shapes.num(k.close),
            "h": shapes.num(k.high),
            "l": shapes.num(k.low),
            "v": shapes.num(k.volume),
            "n": 0,
            "x": k.closed,
            "q": shapes.num(k.volume * k.close),
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


class Outbox:
    """One socket's queue, filled from any thread, drained by the socket's writer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.overflowed = False

    def push(self, text: str) -> None:
        self.loop.call_soon_threadsafe(self._put, text)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._put, None)

    def _put(self, text: str | None) -> None:
        if text is not None and self.queue.qsize() >= QUEUE_MAX:
            self.overflowed = True
            text = None
        self.queue.put_nowait(text)


async def pump(ws: WebSocket, outbox: Outbox) -> None:
    """Send what the outbox holds until it says stop (None) or the socket goes."""
    while True:
        text = await outbox.queue.get()
        if text is None:
            break
        await ws.send_text(text)


class UserStreams:
    """Every open user-data socket of one market; the engine's order events fan out to them."""

    def __init__(self, market: Market, wrap: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.market = market
        self.wrap = wrap
        self.outboxes: set[Outbox] = set()
        self.held_until = 0.0  # loop time before which a new user socket waits to be accepted
        self.format = futures_order_event if market.kind == "usdm" else spot_order_event
        market.engine.add_listener("order", self._on_update)

    def _on_update(self, update: OrderUpdate) -> None:
        if update.order.status is OrderStatus.REJECTED:
            return  # refused before the engine at Binance: never streamed
        if not self.outboxes:
            return
        text = json.dumps(self.wrap(self.format(update)))
        for outbox in list(self.outboxes):
            outbox.push(text)
        if self.market.kind == "usdm" and update.last_trade is not None:
            account = json.dumps(self.wrap(self._account_update(update)))
            for outbox in list(self.outboxes):
                outbox.push(account)

    def _account_update(self, update: OrderUpdate) -> dict[str, Any]:
        engine = self.market.engine
        [position] = engine.positions(update.order.symbol)
        balances = engine.account().balances
        return {
            "e": "ACCOUNT_UPDATE",
            "E": update.ts_event_ms,
            "T": update.ts_event_ms,
            "a": {
                "m": "ORDER",
                "B": [
                    {"a": b.asset, "wb": shapes.num(b.free), "cw": shapes.num(b.free), "bc": "0"}
                    for b in balances
                ],
                "P": [
                    {
                        "s": position.symbol,
                        "pa": shapes.num(position.quantity),
                        "ep": shapes.num(position.entry_price),
                        "bep": shapes.num(position.entry_price),
                        "cr": shapes.num(position.realized_pnl),
                        "up": shapes.num(position.unrealized_pnl),
                        "mt": "cross",
                        "iw": "0",
                        "ps": "BOTH",
                    }
                ],
            },
        }

    def drop_all(self, hold_s: float = 0.0) -> int:
        """Close every user socket; return how many.

        With hold_s, a new user socket's handshake then waits until hold_s have passed (it is
        not refused: the client just sees a slow connect), so events made meanwhile are missed.
        """
        if hold_s > 0:
            self.held_until = asyncio.get_running_loop().time() + hold_s
        dropped = list(self.outboxes)
        for outbox in dropped:
            outbox.close()
        return len(dropped)


async def wait_until_accepted(users: UserStreams) -> None:
    """Hold a new user socket's handshake while `drop_all(hold_s=...)` says so."""
    delay = users.held_until - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


class MarketStreams:
    """Market-data subscriptions of one market: trades, tickers and candles per symbol."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.futures = market.kind == "usdm"
        self.subscribers: dict[Outbox, set[str]] = {}
        market.engine.add_listener("price", self._on_tick)
        market.engine.add_listener("kline", self._on_kline)

    def subscribe(self, outbox: Outbox, streams: Iterable[str]) -> None:
        self.subscribers.setdefault(outbox, set()).update(streams)

    def unsubscribe(self, outbox: Outbox, streams: Iterable[str] | None = None) -> None:
        if streams is None:
            self.subscribers.pop(outbox, None)
        else:
            self.subscribers.get(outbox, set()).difference_update(streams)

    def _on_tick(self, tick: PriceTick) -> None:
        prefix = tick.symbol.lower() + "@"
        for outbox, streams in list(self.subscribers.items()):
            for stream in streams:
                if stream.startswith(prefix):
                    event = market_events(tick, stream, self.futures)
                    if event is not None:
                        outbox.push(json.dumps(event))

    def _on_kline(self, k: Kline) -> None:
        stream = f"{k.symbol.lower()}@kline_{k.interval}"
        now = self.market.engine.clock()
        for outbox, streams in list(self.subscribers.items()):
            if stream in streams:
                outbox.push(json.dumps(kline_event(k, now)))


async def serve_requests(
    ws: WebSocket,
    handle: Callable[[dict[str, Any], Outbox], None],
    on_close: Callable[[Outbox], object],
) -> None:
    """Accept a socket and hand each JSON request to handle with the socket's outbox, until the
    client leaves or sends what is not JSON; then on_close, and flush what the outbox holds."""
    await ws.accept()
    outbox = Outbox(asyncio.get_running_loop())
    writer = asyncio.create_task(pump(ws, outbox))
    try:
        while True:
            handle(json.loads(await ws.receive_text()), outbox)
    except (WebSocketDisconnect, ValueError, RuntimeError):
        pass
    finally:
        on_close(outbox)
        outbox.close()
        with contextlib.suppress(Exception):
            await writer


async def serve_market(ws: WebSocket, streams: MarketStreams) -> None:
    """A market-data socket: SUBSCRIBE / UNSUBSCRIBE requests, then events."""

    def handle(request: dict[str, Any], outbox: Outbox) -> None:
        method, params, ident = (
            request.get("method"),
            request.get("params") or [],
            request.get("id"),
        )
        if method == "SUBSCRIBE":
            streams.subscribe(outbox, [str(p) for p in params])
        elif method == "UNSUBSCRIBE":
            streams.unsubscribe(outbox, [str(p) for p in params])
        elif method != "LIST_SUBSCRIPTIONS":
            outbox.push(
                json.dumps({"error": {"code": 1, "msg": f"unknown method {method!r}"}, "id": ident})
            )
            return
        outbox.push(json.dumps({"result": None, "id": ident}))

    await serve_requests(ws, handle, streams.unsubscribe)


async def serve_user(ws: WebSocket, users: UserStreams) -> None:
    """A user-data socket: events until the client leaves or the simulator drops it."""
    outbox = Outbox(asyncio.get_running_loop())
    users.outboxes.add(outbox)
    reader = asyncio.create_task(_drain_reads(ws))
    reader.add_done_callback(lambda _: outbox.close())  # the client left: stop writing
    try:
        await pump(ws, outbox)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        users.outboxes.discard(outbox)
        reader.cancel()
        with contextlib.suppress(Exception):
            await ws.close()


async def _drain_reads(ws: WebSocket) -> None:
    with contextlib.suppress(Exception):
        while True:
            await ws.receive_text()
