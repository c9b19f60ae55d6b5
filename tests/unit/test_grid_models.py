"""Configs and their messages, string round trips, sizing and the candle indicators."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.indicators import atr, volume_spike
from mmtasks.grid.models import (
    CancelOrder,
    Candle,
    GridConfig,
    OrderFilled,
    Position,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
    message_to_dict,
    parse_grid_config,
    parse_risk_config,
    validate_config,
)
from mmtasks.grid.sizing import order_qty_for

D = Decimal
RULES = SymbolRules(D("0.01"), D("0.001"), D("0.001"), D(5))
BASE = {"interval": "10", "order_qty": "1"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"order_qty": "-1"}, "order_qty must be > 0, received -1"),
        ({"order_notional": "1"}, "set exactly one of order_qty or order_notional, received both"),
        ({"order_qty": None}, "set exactly one of order_qty or order_notional, received neither"),
        ({"interval": 0.5}, "interval must be a decimal string, received float 0.5"),
        ({"interval": "abc"}, "interval must be a decimal string, received 'abc'"),
        ({"interval": "0"}, "interval must be > 0, received 0"),
        ({"buy_levels": 0}, "buy_levels must be between 1 and 200, received 0"),
        ({"sell_levels": 201}, "sell_levels must be between 1 and 200, received 201"),
        ({"buy_levels": True}, "buy_levels must be an integer, received True"),
        ({"mode": "short"}, "mode must be 'long' or 'neutral', received 'short'"),
        ({"atr_scale": "-0.5"}, "atr_scale must be >= 0, received -0.5"),
        ({"post_only": "yes"}, "post_only must be true or false, received 'yes'"),
        ({"spacing": "1"}, "unknown field 'spacing', received '1'"),
    ],
)
def test_grid_config_errors_say_what_was_received(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_grid_config({**BASE, **overrides})

    assert str(caught.value) == message


def test_grid_config_is_frozen_with_exact_decimals() -> None:
    config = parse_grid_config({"interval": 10, "order_notional": "25.50", "mode": "neutral"})

    assert config.interval == D(10)
    assert config.order_notional == D("25.50")
    assert (config.buy_levels, config.post_only, config.atr_scale) == (10, True, D(0))
    assert config.model_dump(mode="json")["order_notional"] == "25.50"
    with pytest.raises(Exception, match="frozen"):
        config.interval = D(1)  # type: ignore[misc]


def test_missing_interval_is_reported() -> None:
    with pytest.raises(ValidationError, match="interval is required"):
        parse_grid_config({"order_qty": "1"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_position": "0"}, "max_position must be > 0, received 0"),
        ({"max_open_orders": 0}, "max_open_orders must be >= 1, received 0"),
        ({"stale_after_s": "x"}, "stale_after_s must be an integer, received 'x'"),
        ({"kline_interval": "1 minute"}, "kline_interval must look like '1m', '5m' or '1h'"),
        ({"volume_multiplier": 3.0}, "volume_multiplier must be a decimal string, received float"),
        ({"enable_volume_monitor": 1}, "enable_volume_monitor must be true or false, received 1"),
    ],
)
def test_risk_config_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_risk_config(raw)

    assert str(caught.value).startswith(message)


def test_risk_config_defaults() -> None:
    risk = parse_risk_config({})

    assert risk == RiskConfig(
        max_position=None,
        max_open_orders=None,
        stale_after_s=60,
        kline_interval="1m",
        average_window=20,
        volume_multiplier=D(3),
        enable_volume_monitor=True,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"interval": "0.004", "order_qty": "1"}, "interval must be at least the tick size 0.01"),
        ({"interval": "10", "order_qty": "0.0009"}, "order_qty must be >= min_qty 0.001"),
        ({"interval": "10", "order_notional": "4"}, "order_notional must be >= min_notional 5"),
    ],
)
def test_validate_config_against_symbol_rules(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_config(parse_grid_config(raw), RULES)


def test_validate_config_accepts_a_tradeable_config() -> None:
    validate_config(parse_grid_config({"interval": "0.006", "order_qty": "0.0011"}), RULES)


def test_symbol_rules_from_connector_strings() -> None:
    rules = SymbolRules.from_dict(
        {"tick_size": "0.01", "step_size": "0.001", "min_qty": "0.001", "min_notional": "5"}
    )

    assert rules == RULES
    assert SymbolRules.from_dict(rules.to_dict()) == rules
    with pytest.raises(ValidationError, match="tick_size must be > 0"):
        SymbolRules.from_dict({"tick_size": "0", "step_size": "1"})


@pytest.mark.parametrize(
    "slot",
    [
        Slot(level=D("97250.5")),
        Slot(
            level=D("0.000123"),
            status=SlotStatus.LOCKED,
            side=Side.SELL,
            price=D("0.000124"),
            qty=D("1000.50"),
            client_order_id="mmabcdefsp000123g2",
            venue_order_id="123456",
            filled_qty=D("0.5"),
            closing=True,
            inventory=D("-1E+2"),
            generation=2,
        ),
    ],
)
def test_slot_round_trips_through_strings(slot: Slot) -> None:
    data = slot.to_dict()

    assert all(isinstance(value, str) for value in data.values())
    assert Slot.from_dict(data) == slot
    numbers = ("level", "price", "qty", "filled_qty", "inventory")
    assert all("E" not in data[key] for key in numbers)


def test_slot_strings_are_canonical() -> None:
    slot = Slot(level=D("1.10"), status=SlotStatus.PENDING, side=Side.BUY, price=D("1.10"))

    assert slot.key == "1.1"
    assert slot.to_dict() == {
        "level": "1.1",
        "status": "PENDING",
        "side": "BUY",
        "price": "1.1",
        "qty": "",
        "client_order_id": "",
        "venue_order_id": "",
        "filled_qty": "0",
        "closing": "0",
        "inventory": "0",
        "generation": "0",
    }


def test_position_round_trips_through_strings() -> None:
    position = Position(D("-2.5"), D("101.25"), D("-3.1"), D("0.02"), D("1000"), D("253.125"))

    assert Position.from_dict(position.to_dict()) == position
    assert Position.from_dict({}) == Position()
    assert position.unrealized_pnl(D(100)) == D("3.125")


def test_messages_flatten_to_strings_with_a_type() -> None:
    fill = OrderFilled(
        "BTCUSDT", D(90), Side.BUY, D("90.0"), D(1), D(1), D("0.01"), "t1", "mmx", False, D(0)
    )

    assert message_to_dict(fill)["type"] == "ORDER_FILLED"
    assert message_to_dict(fill)["price"] == "90"
    assert message_to_dict(CancelOrder("BTCUSDT", D(90), "mmx", None, "stale_price")) == {
        "symbol": "BTCUSDT",
        "level": "90",
        "client_order_id": "mmx",
        "venue_order_id": "",
        "reason": "stale_price",
        "type": "CancelOrder",
    }


@pytest.mark.parametrize(
    ("sizing", "price", "expected"),
    [
        ({"order_qty": "0.12345"}, "100", "0.123"),  # snapped down to the step
        ({"order_qty": "0.04"}, "100", None),  # 4 quote under min notional 5
        ({"order_notional": "100"}, "30", "3.333"),
        ({"order_notional": "100"}, "300000", None),  # 0.000333 under min qty 0.001
        ({"order_notional": "5"}, "2.5", "2"),
        ({"order_notional": "5"}, "3", None),  # 1.666 -> 1.666 x 3 = 4.998 under 5
    ],
)
def test_order_qty_for(sizing: dict[str, str], price: str, expected: str | None) -> None:
    config = GridConfig.model_validate({"interval": "1", **sizing})

    qty = order_qty_for(config, RULES, D(price))

    assert qty == (None if expected is None else D(expected))


def candle(
    volume: str, close: str = "100", *, closed: bool = True, high: str = "101", low: str = "99"
) -> Candle:
    return Candle(0, D(100), D(high), D(low), D(close), D(volume), closed)


HISTORY = [candle("10") for _ in range(20)]


@pytest.mark.parametrize(
    ("newest", "history", "expected"),
    [
        (candle("31", "99", closed=False), HISTORY, True),  # forming candle spikes
        (candle("31", "99"), HISTORY, True),  # closed one too
        (candle("30", "99"), HISTORY, False),  # exactly avg x 3 is not above it
        (candle("31", "100"), HISTORY, False),  # close not under the average close
        (candle("31", "99"), HISTORY[:19], False),  # not enough history
        (candle("31", "99"), [*HISTORY[:19], candle("10", closed=False), HISTORY[0]], True),
    ],
)
def test_volume_spike(newest: Candle, history: list[Candle], expected: bool) -> None:
    assert volume_spike([*history, newest], 20, D(3)) is expected


def test_atr_is_the_mean_true_range_of_the_window() -> None:
    # Ranges 2 each; the 11th candle gaps up to close 110, so its true range reaches back to 100.
    closes = ["100"] * 10 + ["110"] * 10
    candles = [candle("1", c, high=str(D(c) + 1), low=str(D(c) - 1)) for c in closes]

    assert atr([*candles, candle("1")], 20) == D("2.45")  # (19 x 2 + 11) / 20
    assert atr(candles, 20) is None  # the newest is not part of its own history
