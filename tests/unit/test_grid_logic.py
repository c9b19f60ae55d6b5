"""decide(): the returned action lists, compared with ==, for each rule of GRID.md."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.grid.ids import client_order_id, parse_client_order_id
from mmtasks.grid.logic import decide, effective_interval, with_anchor
from mmtasks.grid.models import (
    CancelOrder,
    Candle,
    GridConfig,
    GridState,
    Market,
    PlaceOrder,
    Position,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
)
from mmtasks.grid.transitions import mark_acked, mark_pending

SYMBOL = "BTCUSDT"
NOW_MS = 1_700_000_000_000
RULES = SymbolRules(
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal(0),
)
RISK = RiskConfig()
D = Decimal


def config(mode: str = "long", **overrides: object) -> GridConfig:
    values: dict[str, object] = {
        "mode": mode,
        "interval": "10",
        "buy_levels": 2,
        "sell_levels": 2,
        "order_qty": "1",
    }
    values.update(overrides)
    return GridConfig.model_validate(values)


def market(price: str, *, age_ms: int = 0, candles: tuple[Candle, ...] = ()) -> Market:
    return Market(price=D(price), price_ts_ms=NOW_MS - age_ms, candles=candles)


def state(
    *slots: Slot, position: str = "0", anchor: str = "100", reduce_only: bool = False
) -> GridState:
    return GridState(
        symbol=SYMBOL,
        anchor=D(anchor),
        slots={s.key: s for s in slots},
        position=Position(qty=D(position), avg_cost=D(100) if D(position) else D(0)),
        reduce_only=reduce_only,
    )


def resting(
    level: str,
    side: Side,
    price: str | None = None,
    *,
    closing: bool = False,
    inventory: str = "0",
    status: SlotStatus = SlotStatus.LOCKED,
    generation: int = 1,
) -> Slot:
    return Slot(
        level=D(level),
        status=status,
        side=side,
        price=D(price or level),
        qty=D(1),
        client_order_id=client_order_id(SYMBOL, D(level), side, generation),
        venue_order_id=None if status is SlotStatus.PENDING else f"v{level}",
        closing=closing,
        inventory=D(inventory),
        generation=generation,
    )


def place(
    level: str,
    side: Side,
    price: str | None = None,
    *,
    qty: str = "1",
    closing: bool = False,
    reduce_only: bool = False,
    generation: int = 1,
) -> PlaceOrder:
    return PlaceOrder(
        symbol=SYMBOL,
        level=D(level),
        side=side,
        price=D(price or level),
        qty=D(qty),
        client_order_id=client_order_id(SYMBOL, D(level), side, generation),
        post_only=not closing,
        reduce_only=reduce_only,
        closing=closing,
        generation=generation,
    )


def cancel(slot: Slot, reason: str) -> CancelOrder:
    assert slot.client_order_id is not None
    return CancelOrder(SYMBOL, slot.level, slot.client_order_id, slot.venue_order_id, reason)


def run(
    st: GridState,
    price: str,
    cfg: GridConfig | None = None,
    risk: RiskConfig = RISK,
    rules: SymbolRules = RULES,
    **market_kw: object,
) -> list[PlaceOrder | CancelOrder]:
    mk = market(price, **market_kw)  # type: ignore[arg-type]
    return decide(st, mk, cfg or config(), risk, rules, NOW_MS)


def test_neutral_at_anchor_quotes_two_levels_each_side() -> None:
    actions = run(state(), "100", config("neutral"))

    assert actions == [
        place("90", Side.BUY),
        place("110", Side.SELL),
        place("80", Side.BUY),
        place("120", Side.SELL),
    ]


def test_unanchored_state_uses_the_price_snapped_to_tick() -> None:
    st = GridState(symbol=SYMBOL)

    assert run(st, "100.004") == [place("90", Side.BUY), place("80", Side.BUY)]
    assert with_anchor(st, D("100.004"), RULES.tick_size).anchor == D("100")
    assert with_anchor(state(anchor="95"), D("100")).anchor == D("95")


def test_reduce_only_cancels_entries_keeps_closing_and_places_no_buy() -> None:
    buy90, buy80 = resting("90", Side.BUY), resting("80", Side.BUY)
    closing = resting("100", Side.SELL, "110", closing=True, inventory="1")
    idle = Slot(level=D(60), inventory=D(1))
    st = state(buy90, buy80, closing, idle, position="2", reduce_only=True)

    actions = run(st, "100")

    assert actions == [
        cancel(buy90, "reduce_only"),
        cancel(buy80, "reduce_only"),
        place("60", Side.SELL, "70", closing=True, reduce_only=True),
    ]


def test_order_the_price_has_passed_is_left_alone() -> None:
    # The buy at 90 is at or above the price: its fill is on the way, a cancel would race it.
    st = state(resting("90", Side.BUY), reduce_only=True)

    assert run(st, "89.5") == []


def test_short_inventory_in_neutral_gets_a_plain_buy_one_interval_down() -> None:
    # Neutral closing orders are never reduce-only (the venue nets long and short slots).
    st = state(Slot(level=D(110), inventory=D(-1)), position="-1")

    actions = run(st, "111", config("neutral"))

    assert actions == [
        place("120", Side.SELL),
        place("110", Side.BUY, "100", closing=True),
        place("130", Side.SELL),
        place("90", Side.BUY),
    ]


def test_closing_order_outside_the_window_waits() -> None:
    st = state(Slot(level=D(110), inventory=D(-1)), position="-1", anchor="110")

    # ref - Wb x i = 120 > 100: the closing buy is not placed yet.
    actions = run(st, "140", config("neutral"))

    assert [a for a in actions if isinstance(a, PlaceOrder) and a.closing] == []


def test_closing_order_is_not_reduce_only_when_the_net_position_is_the_other_way() -> None:
    # Neutral mode can hold +1 on one slot and -1 on another: net flat, so the venue would
    # reject a reduce-only order; the closing orders go out as plain limits.
    st = state(Slot(level=D(90), inventory=D(1)), Slot(level=D(130), inventory=D(-1)))

    actions = run(st, "110", config("neutral", buy_levels=1, sell_levels=1))

    assert actions == [
        place("130", Side.BUY, "120", closing=True),
        place("90", Side.SELL, "100", closing=True),
    ]


@pytest.mark.parametrize(
    ("max_position", "position", "expected"),
    [
        ("2", "2", []),
        ("3", "2", [place("90", Side.BUY)]),
        ("4", "2", [place("90", Side.BUY), place("80", Side.BUY)]),
    ],
)
def test_max_position_limits_buys_to_the_room_left(
    max_position: str, position: str, expected: list[PlaceOrder]
) -> None:
    risk = RiskConfig(max_position=D(max_position))

    assert run(state(position=position), "100", risk=risk) == expected


def test_max_position_counts_resting_orders_and_leaves_the_reducing_side_alone() -> None:
    risk = RiskConfig(max_position=D(2))
    st = state(resting("90", Side.BUY), position="1")

    actions = run(st, "100", config("neutral"), risk=risk)

    assert actions == [place("110", Side.SELL), place("120", Side.SELL)]


def test_max_open_orders_drops_the_farthest_new_orders() -> None:
    risk = RiskConfig(max_open_orders=3)

    actions = run(state(), "100", config("neutral"), risk=risk)

    assert actions == [place("90", Side.BUY), place("110", Side.SELL), place("80", Side.BUY)]


def test_max_open_orders_cancels_the_farthest_resting_order() -> None:
    buy90, buy80, buy70 = (resting(level, Side.BUY) for level in ("90", "80", "70"))
    risk = RiskConfig(max_open_orders=2)

    actions = run(state(buy90, buy80, buy70), "94", risk=risk)

    assert actions == [cancel(buy70, "max_open_orders")]


def test_max_open_orders_counts_orders_still_being_cancelled() -> None:
    buy90, buy80 = resting("90", Side.BUY), resting("80", Side.BUY)
    risk = RiskConfig(max_open_orders=2)

    # BUY 80 leaves the window, but rests until the venue confirms: BUY 100 waits a step.
    actions = run(state(buy90, buy80), "111", risk=risk)
    after_cancel = run(state(buy90), "111", risk=risk)

    assert actions == [cancel(buy80, "out_of_window")]
    assert after_cancel == [place("100", Side.BUY)]


def test_max_open_orders_swaps_a_far_order_for_a_nearer_one_in_two_steps() -> None:
    buy90, buy80 = resting("90", Side.BUY), resting("80", Side.BUY)
    risk = RiskConfig(max_open_orders=2)

    first = run(state(buy90, buy80), "106", risk=risk)
    second = run(state(buy90), "106", risk=risk)

    assert first == [cancel(buy80, "max_open_orders")]
    assert second == [place("100", Side.BUY)]


def test_max_open_orders_counts_pending_orders_first() -> None:
    pending = resting("90", Side.BUY, status=SlotStatus.PENDING)
    risk = RiskConfig(max_open_orders=1)

    assert run(state(pending), "100", risk=risk) == []


def test_stale_price_cancels_entries_keeps_closing_and_places_nothing() -> None:
    entry = resting("90", Side.BUY)
    closing = resting("100", Side.SELL, "110", closing=True, inventory="1")
    idle = Slot(level=D(70), inventory=D(1))
    st = state(entry, closing, idle, position="2")

    stale = run(st, "100", age_ms=60_001)
    fresh = run(st, "100", age_ms=60_000)

    assert stale == [cancel(entry, "stale_price")]
    # The closing sell takes price 80 first, so the buy entry at 80 is skipped.
    assert fresh == [place("70", Side.SELL, "80", closing=True, reduce_only=True)]


def flat_candles(count: int, *, volume: str = "10", spread: str = "2") -> list[Candle]:
    half = D(spread) / 2
    return [
        Candle(i * 60_000, D(100), D(100) + half, D(100) - half, D(100), D(volume), True)
        for i in range(count)
    ]


def test_volume_spike_puts_the_symbol_in_reduce_only() -> None:
    forming = Candle(20 * 60_000, D(100), D(100), D(95), D(99), D(31), False)
    candles = (*flat_candles(20), forming)
    entry = resting("90", Side.BUY)
    st = state(entry, Slot(level=D(70), inventory=D(1)), position="1")

    spiking = run(st, "100", candles=candles)
    unmonitored = run(st, "100", risk=RiskConfig(enable_volume_monitor=False), candles=candles)

    assert spiking == [
        cancel(entry, "reduce_only"),
        place("70", Side.SELL, "80", closing=True, reduce_only=True),
    ]
    assert unmonitored == [place("70", Side.SELL, "80", closing=True, reduce_only=True)]


def test_atr_widens_the_interval_snapped_to_tick() -> None:
    candles = (*flat_candles(20, spread="20"), flat_candles(1)[0])
    wide = config(atr_scale="1")

    assert run(state(), "100", wide, candles=candles) == [
        place("80", Side.BUY),
        place("60", Side.BUY),
    ]
    assert run(state(), "100", config(atr_scale="0.25"), candles=candles) == [
        place("90", Side.BUY),
        place("80", Side.BUY),
    ]
    # 20 x 0.3333 = 6.666 snaps to 6.67, wider than the configured 1.
    interval = effective_interval(
        config(interval="1", atr_scale="0.3333"), RULES, market("100", candles=candles), RISK
    )
    assert interval == D("6.67")


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        # long 10 x skew 0.01: ref 90 pushes the buys down; sells stay half an interval above 100
        ("10", [("110", Side.SELL), ("80", Side.BUY), ("120", Side.SELL), ("70", Side.BUY)]),
        # short 10: ref 110 pushes the sells up; buys stay half an interval below 100
        ("-10", [("90", Side.BUY), ("80", Side.BUY), ("120", Side.SELL), ("130", Side.SELL)]),
    ],
)
def test_inventory_skew_moves_the_side_that_adds_inventory(
    position: str, expected: list[tuple[str, Side]]
) -> None:
    cfg = config("neutral", inventory_skew="0.01")

    actions = run(state(position=position), "100", cfg)

    assert actions == [place(level, side) for level, side in expected]


def test_fractional_prices_use_canonical_slot_keys() -> None:
    cfg = config("neutral", interval="0.053", order_qty="10")  # snaps to 0.05
    st = state(anchor="1.00")

    actions = run(st, "1.03", cfg)
    for action in actions:
        assert isinstance(action, PlaceOrder)
        st = mark_acked(mark_pending(st, action), action.client_order_id, "v")

    assert actions == [
        place("1.00", Side.BUY, qty="10"),
        place("1.10", Side.SELL, qty="10"),
        place("0.95", Side.BUY, qty="10"),
        place("1.15", Side.SELL, qty="10"),
    ]
    assert sorted(st.slots) == ["0.95", "1", "1.1", "1.15"]
    assert run(st, "1.03", cfg) == []


def test_orders_under_the_minimums_are_not_placed() -> None:
    rules = SymbolRules(D("0.01"), D("0.001"), D("0.001"), min_notional=D(85))

    # 1 x 90 clears 85, 1 x 80 does not.
    assert run(state(), "100", rules=rules) == [place("90", Side.BUY)]


def test_notional_sizing_snaps_down_to_the_step() -> None:
    actions = run(state(), "100", config(order_qty=None, order_notional="100"))

    assert actions == [place("90", Side.BUY, qty="1.111"), place("80", Side.BUY, qty="1.25")]


def test_next_generation_respects_the_generation_floor() -> None:
    st = GridState(symbol=SYMBOL, anchor=D(100), generation_floor=1_700_000_000)

    first = run(st, "100")[0]

    assert isinstance(first, PlaceOrder)
    assert first.generation == 1_700_000_001
    assert parse_client_order_id(first.client_order_id).generation == 1_700_000_001
    assert len(first.client_order_id) <= 32
