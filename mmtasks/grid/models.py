"""Types of the grid core: slots, position, market data and the per-symbol state.

Configs live in `config.py` and actions/events in `actions.py`; both are re-exported here so
callers can take every grid type from one module.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from operator import attrgetter

from mmtasks.decimals import ZERO, canon, parse_decimal
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.actions import (
    Action,
    CancelOrder,
    Event,
    OrderCanceled,
    OrderCreated,
    OrderFilled,
    OrderRejected,
    PlaceOrder,
    PositionChanged,
    PositionChangeKind,
    field_text,
    fields_text,
    message_to_dict,
)
from mmtasks.grid.config import (
    GridConfig,
    RiskConfig,
    SymbolRules,
    parse_grid_config,
    parse_risk_config,
    validate_config,
)
from mmtasks.grid.quickinit import quick_init

__all__ = [
    "Action",
    "CancelOrder",
    "Candle",
    "Event",
    "GridConfig",
    "GridState",
    "Market",
    "OrderCanceled",
    "OrderCreated",
    "OrderFilled",
    "OrderRejected",
    "PlaceOrder",
    "Position",
    "PositionChangeKind",
    "PositionChanged",
    "RiskConfig",
    "Slot",
    "SlotIndex",
    "SlotStatus",
    "SymbolRules",
    "message_to_dict",
    "parse_grid_config",
    "parse_risk_config",
    "validate_config",
]


class SlotStatus(StrEnum):
    """Where a slot's order stands."""

    FREE = "FREE"  # no order of ours rests here
    PENDING = "PENDING"  # intent written, no ack yet: never place again until resolved
    LOCKED = "LOCKED"  # the venue acknowledged the order


# A module constant: `SlotStatus.FREE` is a look-up on the enum class (~65 ns on Python 3.11),
# a module global ~10 ns, and every slot an index derives or follows is asked it.
_FREE = SlotStatus.FREE


def _opt_decimal(data: Mapping[str, str], key: str) -> Decimal | None:
    text = data.get(key, "")
    return None if text == "" else parse_decimal(text, key)


def _decimal(data: Mapping[str, str], key: str) -> Decimal:
    text = data.get(key, "")
    return ZERO if text == "" else parse_decimal(text, key)


def _opt_str(data: Mapping[str, str], key: str) -> str | None:
    text = data.get(key, "")
    return None if text == "" else text


def _flag(data: Mapping[str, str], key: str) -> bool:
    text = data.get(key, "0")
    if text not in ("0", "1"):
        raise ValidationError(f"{key} must be '0' or '1', received {text!r}")
    return text == "1"


def _int(data: Mapping[str, str], key: str) -> int:
    text = data.get(key, "0") or "0"
    if not text.isdigit():
        raise ValidationError(f"{key} must be a non-negative integer, received {text!r}")
    return int(text)


@quick_init
@dataclass(frozen=True, slots=True)
class Slot:
    """One grid level: its order (if any) and the inventory its fills left."""

    level: Decimal
    status: SlotStatus = SlotStatus.FREE
    side: Side | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    client_order_id: str | None = None
    venue_order_id: str | None = None
    filled_qty: Decimal = ZERO
    closing: bool = False
    inventory: Decimal = ZERO
    generation: int = 0

    @property
    def key(self) -> str:
        """Return the slot key: the level as a canonical decimal string."""
        return canon(self.level)

    @property
    def has_order(self) -> bool:
        """Return True while an order of ours is in flight or resting on this slot."""
        return self.status is not _FREE

    def freed(self, inventory: Decimal | None = None) -> Slot:
        """Return this slot with no order, keeping its generation and its inventory (or holding
        inventory, when given: what the order's last fills left)."""
        held = self.inventory if inventory is None else inventory
        free = _FREE  # the fields in order: keywords cost more, on every order's end
        return Slot(
            self.level, free, None, None, None, None, None, ZERO, False, held, self.generation
        )

    def updated(
        self,
        status: SlotStatus,
        venue_order_id: str | None,
        filled_qty: Decimal,
        inventory: Decimal,
    ) -> Slot:
        """Return this slot's order at status under venue_order_id, filled_qty done, holding
        inventory: what an ack or an order update changes (the rest is the order's own)."""
        return self.holding(self, status, venue_order_id, filled_qty, inventory)

    def holding(
        self,
        order: PlaceOrder | Slot,
        status: SlotStatus,
        venue_order_id: str | None,
        filled_qty: Decimal,
        inventory: Decimal,
    ) -> Slot:
        """Return this slot's level holding order (an intent, or the order a slot holds: side,
        price, qty, client id, closing, generation) at status, with the rest given."""
        # dataclasses.replace spelled out: every intent, ack and order update comes here, and
        # replace() costs several times more.
        return Slot(
            self.level,
            status,
            order.side,
            order.price,
            order.qty,
            order.client_order_id,
            venue_order_id,
            filled_qty,
            order.closing,
            inventory,
            order.generation,
        )

    def to_dict(self) -> dict[str, str]:
        """Return the slot as string fields ('' for None, '1'/'0' for flags)."""
        return {
            "level": field_text(self.level),
            "status": self.status.value,
            "side": "" if self.side is None else self.side.value,
            "price": field_text(self.price),
            "qty": field_text(self.qty),
            "client_order_id": field_text(self.client_order_id),
            "venue_order_id": field_text(self.venue_order_id),
            "filled_qty": field_text(self.filled_qty),
            "closing": field_text(self.closing),
            "inventory": field_text(self.inventory),
            "generation": field_text(self.generation),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Slot:
        """Return a slot from the fields written by to_dict."""
        side = data.get("side", "")
        status = data.get("status", "FREE")
        if side not in ("", "BUY", "SELL"):
            raise ValidationError(f"side must be 'BUY', 'SELL' or '', received {side!r}")
        if status not in SlotStatus.__members__:
            raise ValidationError(f"status must be FREE, PENDING or LOCKED, received {status!r}")
        return cls(
            level=parse_decimal(data.get("level"), "level", positive=True),
            status=SlotStatus(status),
            side=Side(side) if side else None,
            price=_opt_decimal(data, "price"),
            qty=_opt_decimal(data, "qty"),
            client_order_id=_opt_str(data, "client_order_id"),
            venue_order_id=_opt_str(data, "venue_order_id"),
            filled_qty=_decimal(data, "filled_qty"),
            closing=_flag(data, "closing"),
            inventory=_decimal(data, "inventory"),
            generation=_int(data, "generation"),
        )


@quick_init
@dataclass(frozen=True)
class Position:
    """Signed position of one symbol with average-cost accounting.

    `cost_basis` is the exact quote cost of the open quantity (|qty| x avg_cost without the
    rounding of a division): realized PnL then sums exactly to the cash once the position is
    flat, where a rounded avg_cost would leave residues like 129.99...9. A basis that does not
    agree with |qty| x avg_cost (state written without it, or qty and avg_cost replaced from the
    exchange) is ignored and derived from them.
    """

    qty: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    volume: Decimal = ZERO  # quote notional traded
    cost_basis: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """Return the unrealized PnL of the position at mark."""
        return (mark - self.avg_cost) * self.qty

    def to_dict(self) -> dict[str, str]:
        """Return the position as canonical decimal strings."""
        return fields_text(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Position:
        """Return a position from the fields written by to_dict (missing fields are 0)."""
        return cls(*(_decimal(data, f.name) for f in fields(cls)))


@quick_init
@dataclass(frozen=True)
class Candle:
    """One kline; `closed` is False while it is still forming."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool


@quick_init
@dataclass(frozen=True)
class Market:
    """What the grid knows of the market: newest price and recent candles (oldest first)."""

    price: Decimal
    price_ts_ms: int
    candles: tuple[Candle, ...] = ()


@quick_init
@dataclass(frozen=True)
class GridState:
    """Persisted grid state of one symbol; every change returns a new GridState.

    `generation_floor` is the lowest generation an order may carry: a state rebuilt after Redis
    lost it starts from a fresh floor (e.g. the current second) so its client ids never repeat
    ids the venue already knows from before the loss.
    """

    symbol: str
    anchor: Decimal | None = None
    slots: Mapping[str, Slot] = field(default_factory=dict)
    position: Position = field(default_factory=Position)
    reduce_only: bool = False
    generation_floor: int = 0

    def slot_at(self, level: Decimal) -> Slot:
        """Return the slot of level, or a fresh FREE one when none is stored."""
        return self.slots.get(canon(level)) or Slot(level=level)

    @cached_property
    def index(self) -> SlotIndex:
        """The slots a decision can act on, by what they hold (see SlotIndex)."""
        return SlotIndex.of(self.slots)

    def with_slot(self, slot: Slot) -> GridState:
        """Return this state with slot stored under its key."""
        key = slot.key
        slots = dict(self.slots)
        slots[key] = slot
        return self._with(slots, self.position, ((key, slot),))

    def with_slots(self, changed: Iterable[Slot]) -> GridState:
        """Return this state with each slot stored under its key, in order (one copy)."""
        return self.with_keyed_slots([(slot.key, slot) for slot in changed])

    def with_keyed_slots(self, stored: Sequence[tuple[str, Slot]]) -> GridState:
        """Return this state with each (key, slot) pair stored, in order (one copy); each key
        must be its slot's key (the caller has it: keys are texts made per call)."""
        slots = dict(self.slots)
        slots.update(stored)
        return self._with(slots, self.position, stored)

    def with_position(self, position: Position) -> GridState:
        """Return this state with position replaced."""
        return self._with(self.slots, position, ())

    def with_slot_and_position(self, slot: Slot, position: Position) -> GridState:
        """Return this state with slot stored under its key and position replaced (one copy)."""
        key = slot.key
        slots = dict(self.slots)
        slots[key] = slot
        return self._with(slots, position, ((key, slot),))

    def _with(
        self, slots: Mapping[str, Slot], position: Position, changed: Sequence[tuple[str, Slot]]
    ) -> GridState:
        # Every order update builds a new state: the constructor is several times cheaper than
        # dataclasses.replace. A field added to GridState must be passed on here too.
        state = GridState(
            self.symbol, self.anchor, slots, position, self.reduce_only, self.generation_floor
        )
        index: SlotIndex | None = self.__dict__.get("index")
        if index is not None:
            # The index follows the changed slots (cached_property stores in __dict__); an
            # index that cannot follow is derived again when next asked for.
            carried = index if not changed else index.changed(self.slots, changed)
            if carried is not None:
                state.__dict__["index"] = carried
        return state


@quick_init
@dataclass(frozen=True, slots=True)
class SlotIndex:
    """The slots a decision can act on, derived from a state's slots and carried through its
    changes: every level ever quoted stays a slot (its generation), so a grid that trades keeps
    many more slots than it acts on.

    `orders`: the slots with an order in flight or resting (any order: nothing may depend on
    it; logic.decide falls back to the slots' order where a tie could). `longs` / `shorts`:
    the free slots holding long / short inventory, by level (lowest first), so the closing
    orders a window admits are a run of them, found by bisection.
    """

    orders: Mapping[str, Slot]
    longs: tuple[Slot, ...]
    shorts: tuple[Slot, ...]

    @classmethod
    def of(cls, slots: Mapping[str, Slot]) -> SlotIndex:
        """Return the index of slots (by key)."""
        orders: dict[str, Slot] = {}
        longs: list[Slot] = []
        shorts: list[Slot] = []
        for key, slot in slots.items():
            if slot.status is not _FREE:
                orders[key] = slot
            elif slot.inventory > 0:
                longs.append(slot)
            elif slot.inventory < 0:
                shorts.append(slot)
        longs.sort(key=_level)
        shorts.sort(key=_level)
        return cls(orders, tuple(longs), tuple(shorts))

    def changed(
        self, before: Mapping[str, Slot], changed: Sequence[tuple[str, Slot]]
    ) -> SlotIndex | None:
        """Return the index after the (key, slot) pairs of changed replaced the slots under
        those keys in before (None: before does not agree with this index)."""
        if len(changed) == 1:
            key, slot = changed[0]
            return self._one(before.get(key), key, slot)
        orders: dict[str, Slot] | None = None
        longs, shorts = self.longs, self.shorts
        seen: dict[str, Slot] = {}
        for key, slot in changed:
            old = seen.get(key) or before.get(key)
            seen[key] = slot
            if old is not None and old.status is _FREE and old.inventory != 0:
                found = _without(longs if old.inventory > 0 else shorts, old)
                if found is None:
                    return None
                if old.inventory > 0:
                    longs = found
                else:
                    shorts = found
            if slot.status is not _FREE:
                if orders is None:
                    orders = dict(self.orders)
                orders[key] = slot
                continue
            if key in (orders if orders is not None else self.orders):
                if orders is None:
                    orders = dict(self.orders)
                del orders[key]
            if slot.inventory > 0:
                longs = _with_slot(longs, slot)
            elif slot.inventory < 0:
                shorts = _with_slot(shorts, slot)
        return SlotIndex(self.orders if orders is None else orders, longs, shorts)

    def _one(self, old: Slot | None, key: str, slot: Slot) -> SlotIndex | None:
        # changed() of one pair (every order update, most intents): the same steps unrolled.
        orders, longs, shorts = self.orders, self.longs, self.shorts
        free = _FREE
        if old is not None and old.status is free and old.inventory != ZERO:
            if old.inventory > ZERO:
                found = _without(longs, old)
                if found is None:
                    return None
                longs = found
            else:
                found = _without(shorts, old)
                if found is None:
                    return None
                shorts = found
        if slot.status is not free:
            orders = dict(orders)
            orders[key] = slot
            return SlotIndex(orders, longs, shorts)
        if key in orders:
            orders = dict(orders)
            del orders[key]
        if slot.inventory > ZERO:
            longs = _with_slot(longs, slot)
        elif slot.inventory < ZERO:
            shorts = _with_slot(shorts, slot)
        return SlotIndex(orders, longs, shorts)


_level = attrgetter("level")  # a slot's level (C-level: bisection and sorts call it often)


def _without(run: tuple[Slot, ...], slot: Slot) -> tuple[Slot, ...] | None:
    at = bisect_left(run, slot.level, key=_level)
    if at == len(run) or run[at] is not slot:
        return None
    return run[:at] + run[at + 1 :]


def _with_slot(run: tuple[Slot, ...], slot: Slot) -> tuple[Slot, ...]:
    at = bisect_left(run, slot.level, key=_level)
    return (*run[:at], slot, *run[at:])
