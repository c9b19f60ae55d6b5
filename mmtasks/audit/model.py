"""What an audit finds for one symbol, and the average-cost fold it checks PnL with (written
here, not imported from the core, so a bug there cannot hide itself)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from mmtasks.domain import trade_order
from mmtasks.state.keys import EVENTS, keys_for

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
    not_compared: int = 0  # ledger fills older than the exchange's kept history
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
        out += _listed(
            s,
            (self.missing_fills, "exchange trades missing from the ledger"),
            (self.extra_fills, "ledger fills the exchange does not have"),
        )
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
        out += _listed(
            s,
            (self.orphan_orders, "open orders of ours no slot holds"),
            (self.stale_slots, "LOCKED slots whose order is not open"),
            (_ranges(self.event_seq_missing), f"event_seq missing on {EVENTS}"),
            (self.event_seq_duplicated, f"event_seq repeated on {EVENTS}"),
            (self.fills_without_event, "ledger fills without ORDER_FILLED"),
            (self.fills_with_duplicate_event, "fills with several ORDER_FILLED"),
        )
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


def _listed(symbol: str, *found: tuple[object, str]) -> list[str]:
    """Return "symbol: what: value" for each (value, what) whose value is not empty."""
    return [f"{symbol}: {what}: {value}" for value, what in found if value]


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
