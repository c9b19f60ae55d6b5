"""The signal pipeline's state of one symbol: a frozen record that maps to a flat string hash.

What is stored: the last `nbr_bars` closed candles, the newest two indicator rows (exact
Decimal text, so a crossing is judged the same after a restart), the regime, the trade (phase,
side, the orders working, stop and take-profit prices), the position with average-cost PnL and
the cooldown counter. The talipp bank is not stored: it is rebuilt from the candles when a state
is read back or when it no longer follows them (indicators.py says how close that is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from mmtasks.decimals import canon, parse_decimal
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.models import Candle, Position
from mmtasks.signal.indicators import IndicatorBank
from mmtasks.signal.regime import RANGE

ROW_PREFIX, PREV_PREFIX, ORDER_PREFIX, POSITION_PREFIX = "row.", "prev.", "order.", "position."
ORDER_FIELDS = (
    "side",
    "price",
    "qty",
    "filled_qty",
    "client_order_id",
    "venue_order_id",
    "cancel_sent",
)


class Phase(StrEnum):
    """Where the symbol's trade stands."""

    FLAT = "FLAT"  # no position, no order
    ENTERING = "ENTERING"  # the entry order is working
    OPEN = "OPEN"  # in position: take-profit resting, stop watched
    EXITING = "EXITING"  # an exit (stop, opposite signal, exit rule) is working


class Role(StrEnum):
    """What an order is for; its index is part of the client id's generation."""

    ENTRY = "entry"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"


ROLES: tuple[Role, ...] = tuple(Role)


@dataclass(frozen=True)
class WorkingOrder:
    """One of our orders the trade is waiting on."""

    role: Role
    side: Side
    price: Decimal
    qty: Decimal
    client_order_id: str
    filled_qty: Decimal = Decimal(0)
    venue_order_id: str | None = None
    cancel_sent: bool = False


@dataclass(frozen=True)
class SignalState:
    """Persisted pipeline state of one symbol; every change returns a new SignalState."""

    symbol: str
    candles: tuple[Candle, ...] = ()
    row: Mapping[str, Decimal | None] = field(default_factory=dict)
    prev_row: Mapping[str, Decimal | None] | None = None
    regime: str = RANGE
    phase: Phase = Phase.FLAT
    side: Side | None = None  # of the trade: BUY = long
    orders: Mapping[Role, WorkingOrder] = field(default_factory=dict)
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    trade_no: int = 0
    bars_since_exit: int | None = None
    last_price: Decimal | None = None
    position: Position = field(default_factory=Position)
    bank: IndicatorBank | None = field(default=None, compare=False, repr=False)

    def order_by_client_id(self, client_order_id: str) -> WorkingOrder | None:
        """Return the working order with that client id, if any."""
        return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)

    def with_order(self, order: WorkingOrder | None, role: Role) -> SignalState:
        """Return this state with the order of role replaced (None removes it)."""
        orders = dict(self.orders)
        if order is None:
            orders.pop(role, None)
        else:
            orders[role] = order
        return replace(self, orders=orders)

    def to_dict(self) -> dict[str, str]:
        """Return the state as flat string fields for a Redis hash ('' for None)."""
        out = {
            "symbol": self.symbol,
            "candles": ";".join(_candle_text(c) for c in self.candles),
            "regime": self.regime,
            "phase": self.phase.value,
            "side": "" if self.side is None else self.side.value,
            "stop_price": _opt(self.stop_price),
            "take_profit_price": _opt(self.take_profit_price),
            "trade_no": str(self.trade_no),
            "bars_since_exit": "" if self.bars_since_exit is None else str(self.bars_since_exit),
            "last_price": _opt(self.last_price),
            "has_prev": "1" if self.prev_row is not None else "0",
        }
        out.update({f"{ROW_PREFIX}{k}": _opt(v) for k, v in self.row.items()})
        out.update({f"{PREV_PREFIX}{k}": _opt(v) for k, v in (self.prev_row or {}).items()})
        out.update({f"{POSITION_PREFIX}{k}": v for k, v in self.position.to_dict().items()})
        for role, order in self.orders.items():
            for name in ORDER_FIELDS:
                value = getattr(order, name)
                if isinstance(value, bool):
                    text = "1" if value else "0"
                else:
                    text = value.value if isinstance(value, Side) else _opt(value)
                out[f"{ORDER_PREFIX}{role.value}.{name}"] = text
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> SignalState:
        """Return a state from the fields written by to_dict (the bank is rebuilt on use)."""
        phase = data.get("phase", "FLAT")
        if phase not in Phase.__members__:
            raise ValidationError(
                f"phase must be one of {', '.join(Phase.__members__)}, received {phase!r}"
            )
        side = data.get("side", "")
        prev = _prefixed(data, PREV_PREFIX) if data.get("has_prev") == "1" else None
        candles_text = data.get("candles", "")
        return cls(
            symbol=data.get("symbol", ""),
            candles=tuple(_parse_candle(t) for t in candles_text.split(";") if t),
            row=_prefixed(data, ROW_PREFIX),
            prev_row=prev,
            regime=data.get("regime", RANGE),
            phase=Phase(phase),
            side=_side(side) if side else None,
            orders=_orders(data),
            stop_price=_opt_dec(data, "stop_price"),
            take_profit_price=_opt_dec(data, "take_profit_price"),
            trade_no=_count(data, "trade_no"),
            bars_since_exit=None
            if not data.get("bars_since_exit")
            else _count(data, "bars_since_exit"),
            last_price=_opt_dec(data, "last_price"),
            position=Position.from_dict(
                {
                    k[len(POSITION_PREFIX) :]: v
                    for k, v in data.items()
                    if k.startswith(POSITION_PREFIX)
                }
            ),
        )


def _opt(value: Decimal | str | None) -> str:
    if value is None:
        return ""
    return canon(value) if isinstance(value, Decimal) else value


def _opt_dec(data: Mapping[str, str], key: str) -> Decimal | None:
    text = data.get(key, "")
    return None if text == "" else parse_decimal(text, key)


def _count(data: Mapping[str, str], key: str) -> int:
    text = data.get(key, "0") or "0"
    if not text.isdigit():
        raise ValidationError(f"{key} must be a non-negative integer, received {text!r}")
    return int(text)


def _side(text: str) -> Side:
    if text not in Side.__members__:
        raise ValidationError(f"side must be 'BUY' or 'SELL', received {text!r}")
    return Side(text)


def _prefixed(data: Mapping[str, str], prefix: str) -> dict[str, Decimal | None]:
    return {k[len(prefix) :]: _opt_dec(data, k) for k in data if k.startswith(prefix)}


def _orders(data: Mapping[str, str]) -> dict[Role, WorkingOrder]:
    out = {}
    for role in ROLES:
        key = f"{ORDER_PREFIX}{role.value}."
        if f"{key}client_order_id" not in data:
            continue
        out[role] = WorkingOrder(
            role=role,
            side=_side(data.get(f"{key}side", "")),
            price=parse_decimal(data.get(f"{key}price"), f"{key}price"),
            qty=parse_decimal(data.get(f"{key}qty"), f"{key}qty"),
            client_order_id=data[f"{key}client_order_id"],
            filled_qty=parse_decimal(data.get(f"{key}filled_qty", "0"), f"{key}filled_qty"),
            venue_order_id=data.get(f"{key}venue_order_id") or None,
            cancel_sent=data.get(f"{key}cancel_sent") == "1",
        )
    return out


def _candle_text(c: Candle) -> str:
    return ",".join(
        [str(c.open_ms), *(canon(v) for v in (c.open, c.high, c.low, c.close, c.volume))]
    )


def _parse_candle(text: str) -> Candle:
    parts = text.split(",")
    if len(parts) != 6 or not parts[0].lstrip("-").isdigit():
        raise ValidationError(
            f"candle must be 'open_ms,open,high,low,close,volume', received {text!r}"
        )
    o, h, lo, c, v = (parse_decimal(p, "candle") for p in parts[1:])
    return Candle(int(parts[0]), o, h, lo, c, v, True)
