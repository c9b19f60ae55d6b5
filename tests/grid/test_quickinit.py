"""quick_init: the faster __init__ builds the objects the dataclass's own __init__ built."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field, make_dataclass
from decimal import Decimal
from typing import Any

import pytest

from mmtasks.domain import Side
from mmtasks.grid.actions import OrderFilled, PlaceOrder
from mmtasks.grid.models import GridState, Position, Slot, SlotStatus
from mmtasks.grid.quickinit import quick_init


def _fields() -> list[tuple[str, type, Any]]:
    # A fresh list per class: dataclass() fills in each Field it is given.
    return [
        ("name", str, field()),
        ("qty", Decimal, field(default=Decimal(0))),
        ("tags", dict, field(default_factory=dict)),
    ]


def _make(name: str, *, slots: bool = False) -> Any:
    cls = make_dataclass(name, _fields(), frozen=True, slots=slots)
    cls.__module__ = __name__  # so pickle finds it here
    return cls


_Reference = _make("_Reference")
_Quick = quick_init(_make("_Quick"))
_QuickSlots = quick_init(_make("_QuickSlots", slots=True))


@pytest.mark.parametrize("cls", [_Quick, _QuickSlots])
def test_quick_init_builds_what_the_dataclass_init_builds(cls: Any) -> None:
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("a",), {}),
        (("a", Decimal("1.5")), {}),
        ((), {"name": "b", "tags": {"k": "v"}}),
        (("c",), {"qty": Decimal(2)}),
    ]
    for args, kwargs in cases:
        built, reference = cls(*args, **kwargs), _Reference(*args, **kwargs)
        assert dataclasses.astuple(built) == dataclasses.astuple(reference)
    assert cls("a").tags is not cls("a").tags  # a fresh default per object, as default_factory
    with pytest.raises(TypeError):
        cls()
    with pytest.raises(TypeError):
        cls("a", nope=1)


@pytest.mark.parametrize("cls", [_Quick, _QuickSlots])
def test_quick_init_keeps_the_class_frozen_hashable_and_replaceable(cls: Any) -> None:
    obj = cls("a", Decimal(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.name = "b"
    assert obj == cls("a", Decimal(1)) and obj != cls("a", Decimal(2))
    assert dataclasses.replace(obj, qty=Decimal(3)) == cls("a", Decimal(3))
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_the_core_types_keep_their_fields_and_equality() -> None:
    slot = Slot(Decimal(100), SlotStatus.LOCKED, Side.BUY, Decimal(100), Decimal(1), "c", "v")
    assert slot == Slot(
        level=Decimal(100),
        status=SlotStatus.LOCKED,
        side=Side.BUY,
        price=Decimal(100),
        qty=Decimal(1),
        client_order_id="c",
        venue_order_id="v",
    )
    assert hash(slot) == hash(dataclasses.replace(slot))
    assert slot.filled_qty == 0 and slot.generation == 0 and not slot.closing
    state = GridState("BTCUSDT")
    assert state.slots == {} and state.position == Position() and state.generation_floor == 0
    assert GridState("BTCUSDT").slots is not state.slots
    two, three = Decimal(2), Decimal(3)
    place = PlaceOrder("S", Decimal(1), Side.SELL, two, three, "c", False, True, True, 4)
    assert dataclasses.asdict(place)["generation"] == 4
    one = Decimal(1)
    filled = OrderFilled("S", one, Side.BUY, one, one, one, Decimal(0), "t", "c", False, one)
    assert filled.venue_order_id is None and filled.ts_event_ms == 0
    assert filled.event_type == "ORDER_FILLED"


def test_quick_init_refuses_what_it_cannot_keep() -> None:
    @dataclass
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class Posted:
        x: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, Posted):
        with pytest.raises(TypeError):
            quick_init(cls)
