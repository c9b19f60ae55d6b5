"""The invariant checker: exchange, Redis, ledger and event stream must tell one story.

One module, used by the chaos suite (`python -m mmtasks.chaos`) and by the tests. Given the
exchange (an `ExchangeClient`), Redis and the Postgres ledger, `check` returns one
`SymbolReport` per symbol:

- duplicate client ids: two venue orders carrying one client order id (every order the
  exchange shows: open orders, plus every order its trades reference);
- missing fills: exchange trades of our orders (client-id prefix, `grid.ids.is_ours`) absent
  from the `fills` ledger; extra fills: ledger rows the exchange has no trade for, or whose side,
  price, quantity or fee differ from the exchange's trade;
- position mismatch: Redis `mm:{s}:position` qty against the exchange position;
- PnL mismatch: Redis realized PnL and fees against an average-cost fold of the ledger's fills
  in trade order (ts_ms, then trade id compared as the venue numbers them), written here and
  not imported from the core, so a bug there cannot hide itself;
- orphan orders: open orders of ours at the exchange that no slot in `mm:{s}:slots` holds;
  stale slots: LOCKED slots whose order the exchange no longer has open;
- events: on `mm:events`, per symbol `event_seq` contiguous (from 1 unless the stream lost its
  history) with no duplicate, and exactly one ORDER_FILLED per ledger fill (by `trade_id`).
  While no event carries `event_seq` the event checks report "not checked" instead of failing.

`wait_settled` polls until the fleet is quiet (no PENDING slot, inbox cursor == seq, no
buffered fill, no price task pending, nothing changing) so the check sees a resting state.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import psycopg
import redis

from mmtasks.domain import trade_order
from mmtasks.grid.ids import is_ours
from mmtasks.state import keys as key_schema
from mmtasks.state.keys import EVENTS, EVENTS_MAXLEN, keys_for

ZERO = Decimal(0)
PNL_TOLERANCE = Decimal("1e-8")  # the core rounds partial-close basis shares at 1e-12
TRADES_PAGE = 1000


class Exchange(Protocol):
    """What the checker asks the exchange (ExchangeClient satisfies it)."""

    def open_orders(self, symbol: str = "") -> Sequence[Any]: ...
    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> Sequence[Any]: ...
    def positions(self, symbol: str = "") -> Sequence[Any]: ...


@dataclass(frozen=True)
class Fill:
    """One fill, as the ledger or the exchange records it."""

    trade_id: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    ts_ms: int
    client_order_id: str = ""
    order_id: str = ""


@dataclass(frozen=True)
class Folded:
    """Position and PnL of an average-cost fold."""

    qty: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass
class SymbolReport:
    """What the checker found for one symbol; `ok` when every invariant holds."""

    symbol: str
    duplicate_client_ids: dict[str, list[str]] = field(default_factory=dict)
    missing_fills: list[str] = field(default_factory=list)
    extra_fills: list[str] = field(default_factory=list)
    redis_qty: Decimal | None = None
    exchange_qty: Decimal = ZERO
    redis_realized: Decimal | None = None
    redis_fees: Decimal | None = None
    ledger: Folded = field(default_factory=Folded)
    orphan_orders: list[str] = field(default_factory=list)
    stale_slots: list[str] = field(default_factory=list)
    events_checked: bool = False
    events_note: str = "not checked"
    event_seq_missing: list[int] = field(default_factory=list)
    event_seq_duplicated: list[int] = field(default_factory=list)
    fills_without_event: list[str] = field(default_factory=list)
    fills_with_duplicate_event: list[str] = field(default_factory=list)

    @property
    def position_mismatch(self) -> bool:
        return (self.redis_qty or ZERO) != self.exchange_qty

    @property
    def pnl_mismatch(self) -> bool:
        realized = self.redis_realized or ZERO
        fees = self.redis_fees or ZERO
        return (
            abs(realized - self.ledger.realized_pnl) > PNL_TOLERANCE
            or abs(fees - self.ledger.fees) > PNL_TOLERANCE
        )

    @property
    def event_problems(self) -> int:
        """Return missing plus duplicated events (seq gaps, seq repeats, fill events)."""
        return (
            len(self.event_seq_missing)
            + len(self.event_seq_duplicated)
            + len(self.fills_without_event)
            + len(self.fills_with_duplicate_event)
        )

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """Return one line per broken invariant, naming the ids, keys and values involved."""
        s, out = self.symbol, []
        for cid, orders in sorted(self.duplicate_client_ids.items()):
            out.append(f"{s}: client id {cid} has {len(orders)} venue orders {orders}")
        if self.missing_fills:
            out.append(f"{s}: exchange trades missing from the ledger: {self.missing_fills}")
        if self.extra_fills:
            out.append(f"{s}: ledger fills the exchange does not have: {self.extra_fills}")
        if self.position_mismatch:
            out.append(
                f"{s}: position {keys_for(s).position} qty={self.redis_qty} "
                f"!= exchange {self.exchange_qty} (ledger fold {self.ledger.qty})"
            )
        if self.pnl_mismatch:
            out.append(
                f"{s}: Redis realized_pnl={self.redis_realized} fees={self.redis_fees} != ledger "
                f"fold realized_pnl={self.ledger.realized_pnl} fees={self.ledger.fees}"
            )
        if self.orphan_orders:
            out.append(f"{s}: open orders of ours no slot holds: {self.orphan_orders}")
        if self.stale_slots:
            out.append(f"{s}: LOCKED slots whose order is not open: {self.stale_slots}")
        if self.event_seq_missing:
            out.append(f"{s}: event_seq missing on {EVENTS}: {_ranges(self.event_seq_missing)}")
        if self.event_seq_duplicated:
            out.append(f"{s}: event_seq repeated on {EVENTS}: {self.event_seq_duplicated}")
        if self.fills_without_event:
            out.append(f"{s}: ledger fills without ORDER_FILLED: {self.fills_without_event}")
        if self.fills_with_duplicate_event:
            out.append(f"{s}: fills with several ORDER_FILLED: {self.fills_with_duplicate_event}")
        return out


# -- the fold ---------------------------------------------------------------------------------


def trade_order_key(fill: Fill) -> tuple[int, tuple[tuple[int, str], ...]]:
    """Return the sort key of the venue's trade order for a fill (see `domain.trade_order`)."""
    return trade_order(fill.ts_ms, fill.trade_id)


def fold(fills: Iterable[Fill]) -> Folded:
    """Return position, average cost, realized PnL and fees of fills applied in trade order."""
    qty, avg, realized, fees = ZERO, ZERO, ZERO, ZERO
    for f in sorted(fills, key=trade_order_key):
        signed = f.qty if f.side == "BUY" else -f.qty
        fees += f.fee
        if qty == 0 or (qty > 0) == (signed > 0):
            avg = (abs(qty) * avg + f.qty * f.price) / abs(qty + signed)
            qty += signed
            continue
        closed = min(abs(qty), f.qty)
        realized += (f.price - avg) * closed if qty > 0 else (avg - f.price) * closed
        after = qty + signed
        if after == 0:
            avg = ZERO
        elif (after > 0) != (qty > 0):
            avg = f.price  # flipped through flat: the rest was opened at this price
        qty = after
    return Folded(qty, avg, realized, fees)


# -- reading each source ----------------------------------------------------------------------


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
) -> SymbolReport:
    """Return the invariant report of one symbol (see the module docstring)."""
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
        if t is None:
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
) -> list[SymbolReport]:
    """Return one report per symbol.

    events_from_start: event_seq must start at 1 (default: unless mm:events was trimmed near
    its cap); pass False after Redis lost the stream. events_since_ms: only ledger fills at or
    after this trade time need their ORDER_FILLED (older events died with a wiped Redis).
    """
    symbols = list(symbols)
    events = read_events(client, symbols)
    if events_from_start is None:
        events_from_start = int(client.xlen(EVENTS)) < EVENTS_MAXLEN * 9 // 10
    return [
        check_symbol(
            exchange,
            client,
            pg,
            s,
            events=events,
            events_from_start=events_from_start,
            events_since_ms=events_since_ms,
        )
        for s in symbols
    ]


# -- settling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    """Outcome of wait_settled: settled or not, how long it took, what was still moving."""

    settled: bool
    waited_s: float
    unsettled: dict[str, str]


def busy_reason(client: redis.Redis, symbol: str) -> str:
    """Return why symbol is not quiet yet, or '' when it is."""
    k = keys_for(symbol)
    slots = redis_slots(client, symbol)
    pending = [level for level, s in slots.items() if s.get("status") == "PENDING"]
    if pending:
        return f"PENDING slots {sorted(pending)}"
    cursor = int(_text(client.hget(k.state, "last_seq") or 0))
    seq = int(_text(client.get(k.seq) or 0))
    if cursor != seq:
        return f"inbox cursor {cursor} != seq {seq}"
    buffered = int(client.llen(k.fills_out))
    if buffered:
        return f"{buffered} fills in {k.fills_out}"
    if client.exists(k.price_pending):
        return "price task pending"
    return _unrelayed(client, symbol)


def _unrelayed(client: redis.Redis, symbol: str) -> str:
    """Return why the symbol's outbox is ahead of what was relayed to mm:events, or ''."""
    relayed_key = getattr(key_schema, "EVENTS_RELAYED", None)
    outbox = f"mm:{{{symbol.lower()}}}:outbox"
    if relayed_key is None:  # no outbox in this version of the key schema
        return ""
    rows: Any = client.xrevrange(outbox, count=1)
    last = int(_text(rows[0][0]).split("-")[0]) if rows else 0
    relayed = int(_text(client.hget(relayed_key, symbol) or 0))
    return f"outbox at event_seq {last}, relayed {relayed}" if last > relayed else ""


def _fingerprint(client: redis.Redis, exchange: Exchange | None, symbols: list[str]) -> Any:
    pipe = client.pipeline(transaction=False)
    for s in symbols:
        k = keys_for(s)
        pipe.get(k.seq)
        pipe.hget(k.position, "qty")
        pipe.hget(k.state, "status")
    stamp: list[Any] = list(pipe.execute())
    if exchange is not None:  # fees grow with every fill: a trade changes the stamp
        stamp += [(p.symbol, p.quantity, p.fees) for p in exchange.positions("")]
    return stamp


def wait_settled(
    client: redis.Redis,
    symbols: Iterable[str],
    *,
    exchange: Exchange | None = None,
    timeout_s: float = 30.0,
    quiet_s: float = 1.0,
    poll_s: float = 0.1,
) -> Settled:
    """Poll until every symbol is quiet and nothing changes for quiet_s, or timeout_s passes.

    Quiet: no PENDING slot, inbox cursor == seq, fills_out empty, no price task pending. Pause
    the price feed first: a live feed keeps a healthy fleet busy forever.
    """
    symbols = list(symbols)
    started = time.monotonic()
    reasons: dict[str, str] = {}
    quiet_since: float | None = None
    last: Any = None
    while True:
        try:
            reasons = {s: r for s in symbols if (r := busy_reason(client, s))}
            stamp = _fingerprint(client, exchange, symbols)
        except (redis.RedisError, OSError) as exc:
            reasons, stamp = {"*": f"redis: {exc}"}, None
        now = time.monotonic()
        if reasons:
            quiet_since = None
        elif stamp != last or quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return Settled(True, now - started, {})
        last = stamp
        if now - started > timeout_s:
            return Settled(False, now - started, reasons or {"*": "still changing"})
        time.sleep(poll_s)


def _ranges(numbers: list[int]) -> str:
    """Return sorted numbers as compact ranges: [1, 2, 3, 7] -> '1-3, 7'."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and "-" not in out[-1] and int(out[-1]) == n - 1:
            out[-1] = f"{out[-1]}-{n}"
        elif out and "-" in out[-1] and int(out[-1].split("-")[1]) == n - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)
