"""The invariant checker: exchange, Redis, ledger and event stream must tell one story.

Used by the chaos suite (`python -m chaos`), the operator's `mmtasks audit` and the tests.
Given the exchange (an `ExchangeClient`), Redis and the Postgres ledger, `check` returns one
`SymbolReport` per symbol:

- duplicate client ids: two venue orders carrying one client order id (every order the
  exchange shows: open orders, plus every order its trades reference);
- missing fills: exchange trades of our orders (client-id prefix, `grid.ids.is_ours`) absent
  from the `fills` ledger; extra fills: ledger rows the exchange has no trade for, or whose side,
  price, quantity or fee differ from the exchange's trade (a ledger fill older than the oldest
  trade the exchange still keeps is counted as not compared instead);
- position mismatch: Redis `mm:{s}:position` qty against the exchange position;
- PnL mismatch: Redis realized PnL and fees against an average-cost fold of the ledger's fills
  in trade order (ts_ms, then trade id compared as the venue numbers them), written here and
  not imported from the core, so a bug there cannot hide itself;
- orphan orders: open orders of ours at the exchange that no slot in `mm:{s}:slots` holds;
  stale slots: LOCKED slots whose order the exchange no longer has open;
- events: on `mm:events`, per symbol `event_seq` contiguous (from 1 unless the stream lost its
  history) with no duplicate, and exactly one ORDER_FILLED per ledger fill (by `trade_id`).
  While no event carries `event_seq` the event checks report "not checked" instead of failing.
  A stream trimmed by its cap or the retention sweep is checked from its oldest kept event.

`wait_settled` polls until the fleet is quiet (no PENDING slot, inbox cursor == seq, no
buffered fill, no price task pending, nothing changing) so the check sees a resting state.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import psycopg
import redis

from mmtasks.audit.model import TRADES_PAGE, ZERO, Exchange, Fill, SymbolReport, fold
from mmtasks.domain import trade_order
from mmtasks.grid.ids import is_ours
from mmtasks.state.keys import EVENTS, EVENTS_MAXLEN, EVENTS_TRIMMED, keys_for


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def exchange_trades(exchange: Exchange, symbol: str) -> list[Any]:
    """Return every trade of symbol at the exchange, paging by time, each trade once."""
    seen: dict[str, Any] = {}
    since = 0
    while True:
        page = list(exchange.trades(symbol, since_ms=since, limit=TRADES_PAGE))
        new = [t for t in page if t.trade_id not in seen]
        for t in new:
            seen[t.trade_id] = t
        if len(page) < TRADES_PAGE or not new:
            return [t for t in seen.values() if t.symbol == symbol]
        since = max(t.ts_ms for t in page)


def ledger_fills(pg: psycopg.Connection[Any] | str, symbol: str) -> list[Fill]:
    """Return the ledger's fills of symbol (pg: a connection or a URL)."""
    sql = (
        "SELECT trade_id, side, price, qty, fee, ts_ms, client_order_id, order_id"
        " FROM fills WHERE symbol = %s"
    )
    if isinstance(pg, str):
        with psycopg.connect(pg, connect_timeout=5) as conn:
            rows = conn.execute(sql, (symbol,)).fetchall()
    else:
        rows = pg.execute(sql, (symbol,)).fetchall()
    return [
        Fill(str(r[0]), str(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]), int(r[5]), *r[6:])
        for r in rows
    ]


def redis_slots(client: redis.Redis, symbol: str) -> dict[str, dict[str, Any]]:
    """Return the symbol's slots as parsed JSON (unreadable ones as {'unreadable': text})."""
    out: dict[str, dict[str, Any]] = {}
    for level, raw in client.hgetall(keys_for(symbol).slots).items():
        try:
            slot = json.loads(_text(raw))
            out[_text(level)] = slot if isinstance(slot, dict) else {"unreadable": _text(raw)}
        except ValueError:
            out[_text(level)] = {"unreadable": _text(raw)}
    return out


def _decimal_field(client: redis.Redis, key: str, name: str) -> Decimal | None:
    value = client.hget(key, name)
    return None if value is None else Decimal(_text(value))


# -- the checks -------------------------------------------------------------------------------


def check_symbol(
    exchange: Exchange,
    client: redis.Redis,
    pg: psycopg.Connection[Any] | str,
    symbol: str,
    *,
    events: dict[str, list[tuple[int | None, str, dict[str, Any]]]] | None = None,
    events_from_start: bool = True,
    events_since_ms: int = 0,
    exchange_since_ms: int = 0,
) -> SymbolReport:
    """Return the invariant report of one symbol (see the module docstring).

    exchange_since_ms: the oldest trade the exchange still keeps, when it has forgotten older
    ones; ledger fills older than it are counted in `not_compared`, not reported as extra.
    """
    report = SymbolReport(symbol)
    trades = exchange_trades(exchange, symbol)
    open_orders = [o for o in exchange.open_orders(symbol) if o.symbol == symbol]

    venue_orders: dict[str, set[str]] = defaultdict(set)
    for o in open_orders:
        venue_orders[o.client_order_id].add(o.order_id)
    for t in trades:
        venue_orders[t.client_order_id].add(t.order_id)
    report.duplicate_client_ids = {
        cid: sorted(ids) for cid, ids in venue_orders.items() if cid and len(ids) > 1
    }

    ledger = ledger_fills(pg, symbol)
    by_trade = {t.trade_id: t for t in trades}
    ledger_ids = {f.trade_id for f in ledger}
    ours = [t for t in trades if is_ours(symbol, t.client_order_id)]
    report.missing_fills = sorted(
        (t.trade_id for t in ours if t.trade_id not in ledger_ids),
        key=lambda tid: trade_order(0, tid),
    )
    for f in ledger:
        t = by_trade.get(f.trade_id)
        if t is None and f.ts_ms < exchange_since_ms:
            report.not_compared += 1  # the exchange has forgotten trades this old
        elif t is None:
            report.extra_fills.append(f.trade_id)
        elif (f.side, f.price, f.qty, f.fee) != (t.side.value, t.price, t.quantity, t.fee):
            report.extra_fills.append(
                f"{f.trade_id} (ledger {f.side} {f.qty}@{f.price} fee {f.fee}, "
                f"exchange {t.side.value} {t.quantity}@{t.price} fee {t.fee})"
            )

    k = keys_for(symbol)
    report.redis_qty = _decimal_field(client, k.position, "qty")
    report.redis_realized = _decimal_field(client, k.position, "realized_pnl")
    report.redis_fees = _decimal_field(client, k.position, "fees")
    report.exchange_qty = sum(
        (p.quantity for p in exchange.positions(symbol) if p.symbol == symbol), ZERO
    )
    report.ledger = fold(ledger)

    slots = redis_slots(client, symbol)
    held = {s.get("client_order_id") for s in slots.values() if s.get("status") != "FREE"}
    open_ids = {o.client_order_id for o in open_orders}
    report.orphan_orders = sorted(
        f"{o.client_order_id} ({o.side.value} {o.quantity}@{o.price}, venue id {o.order_id})"
        for o in open_orders
        if is_ours(symbol, o.client_order_id) and o.client_order_id not in held
    )
    report.stale_slots = sorted(
        f"{level}: {s.get('client_order_id')}"
        for level, s in slots.items()
        if s.get("status") == "LOCKED" and s.get("client_order_id") not in open_ids
    )

    _check_events(report, events, ledger, events_from_start, events_since_ms)
    return report


def _check_events(
    report: SymbolReport,
    events: dict[str, list[tuple[int | None, str, dict[str, Any]]]] | None,
    ledger: list[Fill],
    from_start: bool,
    since_ms: int,
) -> None:
    if events is None:
        report.events_note = "not checked: no events read"
        return
    mine = events.get(report.symbol, [])
    if not any(seq is not None for seqs in events.values() for seq, _, _ in seqs):
        report.events_note = f"not checked: no event on {EVENTS} carries event_seq yet"
        return
    report.events_checked, report.events_note = True, "checked"
    seqs = [seq for seq, _, _ in mine]
    unnumbered = seqs.count(None)
    numbered = [s for s in seqs if s is not None]
    counts = Counter(numbered)
    report.event_seq_duplicated = sorted(s for s, n in counts.items() if n > 1)
    if numbered:
        start = 1 if from_start else min(numbered)
        report.event_seq_missing = sorted(set(range(start, max(numbered) + 1)) - set(counts))
    if unnumbered:
        report.event_seq_missing.append(0)  # 0 stands for "an event without event_seq"
        report.events_note = f"checked; {unnumbered} events without event_seq"
    filled = Counter(str(data.get("trade_id")) for _, kind, data in mine if kind == "ORDER_FILLED")
    for f in ledger:
        if f.ts_ms < since_ms:
            continue
        n = filled.get(f.trade_id, 0)
        if n == 0:
            report.fills_without_event.append(f.trade_id)
        elif n > 1:
            report.fills_with_duplicate_event.append(f"{f.trade_id} x{n}")


def read_events(
    client: redis.Redis, symbols: Iterable[str]
) -> dict[str, list[tuple[int | None, str, dict[str, Any]]]]:
    """Return {symbol: [(event_seq or None, type, data)]} from mm:events, in stream order."""
    wanted = set(symbols)
    out: dict[str, list[tuple[int | None, str, dict[str, Any]]]] = {s: [] for s in wanted}
    start = "-"
    while True:
        rows: Any = client.xrange(EVENTS, min=start, max="+", count=10_000)
        for _entry_id, raw in rows:
            fields = {_text(k): _text(v) for k, v in raw.items()}
            symbol = fields.get("symbol", "")
            if symbol not in wanted:
                continue
            seq_text = fields.get("event_seq")
            try:
                data = json.loads(fields.get("data") or "{}")
            except ValueError:
                data = {"unreadable": fields.get("data")}
            seq = int(seq_text) if seq_text not in (None, "") else None
            data = data if isinstance(data, dict) else {}
            out[symbol].append((seq, fields.get("type", ""), data))
        if len(rows) < 10_000:
            return out
        start = f"({_text(rows[-1][0])}"


def check(
    exchange: Exchange,
    client: redis.Redis,
    pg: psycopg.Connection[Any] | str,
    symbols: Iterable[str],
    *,
    events_from_start: bool | None = None,
    events_since_ms: int = 0,
    exchange_since_ms: int = 0,
) -> list[SymbolReport]:
    """Return one report per symbol.

    events_from_start: event_seq must start at 1 (default: unless mm:events was trimmed near
    its cap); pass False after Redis lost the stream. events_since_ms: only ledger fills at or
    after this trade time need their ORDER_FILLED (older events died with a wiped Redis).
    exchange_since_ms: the exchange keeps no trade older than this (a long run outlived its
    history; `oldest_trade_ms` tells); 0, the default, compares every ledger fill.
    """
    symbols = list(symbols)
    events = read_events(client, symbols)
    trimmed_at = events_trimmed_ms(client)
    if events_from_start is None:
        events_from_start = trimmed_at is None
    if trimmed_at is not None:  # a fill older than the oldest event kept lost its event
        events_since_ms = max(events_since_ms, trimmed_at)
    return [
        check_symbol(
            exchange,
            client,
            pg,
            s,
            events=events,
            events_from_start=events_from_start,
            events_since_ms=events_since_ms,
            exchange_since_ms=exchange_since_ms,
        )
        for s in symbols
    ]


def oldest_trade_ms(exchange: Exchange) -> int:
    """Return the time of the oldest trade the exchange still keeps, of any symbol (0: none)."""
    oldest = list(exchange.trades("", since_ms=0, limit=1))
    return int(oldest[0].ts_ms) if oldest else 0


def events_trimmed_ms(client: redis.Redis) -> int | None:
    """Return the time from which mm:events is whole when it was trimmed on purpose (by the
    retention sweep, `EVENTS_TRIMMED`, or by its cap: near EVENTS_MAXLEN), else None."""
    kept_from = client.get(EVENTS_TRIMMED)
    if kept_from is not None:
        return int(_text(kept_from).split("-")[0])
    if int(client.xlen(EVENTS)) >= EVENTS_MAXLEN * 9 // 10:
        first: Any = client.xrange(EVENTS, count=1)
        return int(_text(first[0][0]).split("-")[0]) if first else None
    return None


# -- settling ---------------------------------------------------------------------------------
