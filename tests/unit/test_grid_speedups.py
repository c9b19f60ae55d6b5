"""The grid core's shortcuts give what the plain computations give (caches, spelled-out copies)."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from decimal import Decimal as D

import pytest

from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid import ids
from mmtasks.grid.ids import client_order_id, encode_level, parse_client_order_id
from mmtasks.grid.indicators import atr, volume_spike
from mmtasks.grid.models import Candle, GridState, Position, Slot, SlotIndex, SlotStatus

SYMBOL = "BTCUSDT"


def _full_state() -> GridState:
    # Every field away from its default, so a field the copy forgets shows up.
    return GridState(
        symbol=SYMBOL,
        anchor=D(100),
        slots={"90": Slot(level=D(90), inventory=D(1), generation=3)},
        position=Position(qty=D(1), avg_cost=D(90)),
        reduce_only=True,
        generation_floor=7,
    )


def test_state_copies_carry_every_field() -> None:
    # Arrange
    state = _full_state()
    slot = Slot(level=D(80), status=SlotStatus.PENDING, side=Side.BUY, price=D(80), qty=D(1))
    position = Position(qty=D(2), avg_cost=D(85))

    # Act
    with_slot = state.with_slot(slot)
    with_slots = state.with_slots([slot])
    with_position = state.with_position(position)

    # Assert
    assert {f.name for f in fields(GridState)} == {
        "symbol",
        "anchor",
        "slots",
        "position",
        "reduce_only",
        "generation_floor",
    }, "a new GridState field must be carried by GridState._with"
    assert with_slot == replace(state, slots={**state.slots, "80": slot})
    assert with_slots == with_slot
    assert with_position == replace(state, position=position)


def test_with_slots_stores_in_order_later_wins() -> None:
    first = Slot(level=D(80), generation=1)
    second = Slot(level=D(80), generation=2)

    state = _full_state().with_slots([first, second])

    assert state.slots["80"] == second
    assert _full_state().with_slots([]) == _full_state()


@pytest.mark.parametrize(
    ("one", "other"),
    [(D("1.0"), D(1)), (D("100"), D("1E+2")), (D("0.050"), D("0.05")), (D("-0"), D(0))],
)
def test_canon_is_the_same_for_equal_values_whichever_comes_first(one: D, other: D) -> None:
    assert canon(one) == canon(other) == canon(D(str(other)))


def test_encode_level_is_the_same_for_equal_values() -> None:
    assert encode_level(D("97250.50")) == encode_level(D("97250.5")) == "97250p5"
    assert encode_level(D("0.00000123450")) == encode_level(D("0.0000012345")) == "12345e10"


def test_parsed_ids_stay_exact_when_repeated() -> None:
    cid = client_order_id(SYMBOL, D("97250.5"), Side.SELL, 12)

    first, again = parse_client_order_id(cid), parse_client_order_id(cid)

    assert first == again
    assert (first.level, first.side, first.generation) == (D("97250.5"), Side.SELL, 12)


def _candles(volumes: list[str], closes: list[str]) -> tuple[Candle, ...]:
    return tuple(
        Candle(n * 60_000, D(c), D(c) + 1, D(c) - 1, D(c), D(v), True)
        for n, (v, c) in enumerate(zip(volumes, closes, strict=True))
    )


def test_indicators_answer_each_candles_tuple_on_its_own() -> None:
    # Arrange: the same window, once quiet and once with a spike closing low
    quiet = _candles(["1", "1", "1", "1"], ["10", "10", "10", "10"])
    spike = _candles(["1", "1", "1", "9"], ["10", "10", "10", "9"])

    # Act / Assert: alternating calls, repeated calls, and a list (never remembered)
    for _ in range(2):
        assert volume_spike(quiet, 3, D(3)) is False
        assert volume_spike(quiet, 3, D(3)) is False
        assert volume_spike(spike, 3, D(3)) is True
        assert volume_spike(spike, 3, D(10)) is False
        assert volume_spike(list(spike), 3, D(3)) is True
        assert atr(quiet, 3) == D(2)
        assert atr(spike, 3) == D(2)
        assert atr(spike, 4) is None


@pytest.mark.parametrize(
    "generation",
    [0, 1, 35, 36, 1295, 1296, 1297, 36**3 - 1, 36**3, 36**4, 36**5 + 7, 36**6 - 1, 10**12],
)
def test_generation_text_is_base36(generation: int) -> None:
    assert ids._generation_text(generation) == ids._base36(generation)


@pytest.mark.parametrize("seed", range(3))
def test_cached_client_order_id_is_the_spelled_out_one(seed: int) -> None:
    # Arrange: levels and generations repeating in varied spellings, as the grid repeats them
    rng = random.Random(seed)
    for _ in range(500):
        level = D(rng.randint(1, 10**6)).scaleb(-rng.randint(0, 8))
        spelled = D(f"{level}000") if "." in str(level) else level
        side = rng.choice([Side.BUY, Side.SELL])
        generation = rng.randint(0, 36**4)

        # Act
        cid = client_order_id(SYMBOL.lower(), spelled, side, generation)

        # Assert
        code = "b" if side is Side.BUY else "s"
        head = f"{ids.client_id_prefix(SYMBOL)}{code}{encode_level(level)}"
        plain = f"{head}g{ids._base36(generation)}"
        assert cid == plain == client_order_id(SYMBOL, level, side, generation)


@pytest.mark.parametrize("level", [D("NaN"), D("sNaN"), D("Infinity"), D(0), D(-1)])
def test_client_order_id_refuses_non_levels_with_a_validation_error(level: D) -> None:
    with pytest.raises(ValidationError):
        client_order_id(SYMBOL, level, Side.BUY, 1)


def _random_slot(rng: random.Random, level: D) -> Slot:
    status = rng.choice([SlotStatus.FREE, SlotStatus.FREE, SlotStatus.PENDING, SlotStatus.LOCKED])
    inventory = rng.choice([D(0), D(0), D(1), D("-0.5")])
    if status is SlotStatus.FREE:
        return Slot(level=level, inventory=inventory, generation=rng.randint(0, 3))
    side = rng.choice([Side.BUY, Side.SELL])
    return Slot(level, status, side, level, D(1), f"c{rng.random()}", None, inventory=inventory)


@pytest.mark.parametrize("seed", range(20))
def test_the_slot_index_carried_through_changes_equals_one_derived_afresh(seed: int) -> None:
    # Arrange: a state whose index is derived, then changed slot by slot, in batches and with
    # the position, as the transitions change it.
    rng = random.Random(seed)
    levels = [D(k) / 2 for k in range(1, 30)]
    state = GridState(symbol=SYMBOL, slots={canon(v): _random_slot(rng, v) for v in levels})
    assert state.index == SlotIndex.of(state.slots)

    for _ in range(200):
        # Act
        pick = rng.random()
        if pick < 0.5:
            state = state.with_slot(_random_slot(rng, rng.choice(levels)))
        elif pick < 0.8:
            batch = [_random_slot(rng, rng.choice(levels)) for _ in range(rng.randint(0, 4))]
            state = state.with_slots(batch)
        else:
            slot = _random_slot(rng, rng.choice(levels))
            state = state.with_slot_and_position(slot, Position(qty=D(rng.randint(-3, 3))))

        # Assert: carried (not derived again), the same orders and inventory runs by level.
        assert "index" in state.__dict__
        carried, fresh = state.index, SlotIndex.of(state.slots)
        assert dict(carried.orders) == dict(fresh.orders)
        assert carried.longs == fresh.longs
        assert carried.shorts == fresh.shorts
