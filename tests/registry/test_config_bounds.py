"""Configs that cannot trade are refused before anything changes, naming field, value, bound."""

from __future__ import annotations

from typing import Any

import pytest

from mmtasks.errors import ValidationError
from mmtasks.registry.configs import merge, parse_risk, parse_strategy
from mmtasks.registry.requests import Halt, bind
from mmtasks.registry.symbol_commands import checked_rules
from mmtasks.venue import Venue
from tests.kit.configs import sim_venue

pytestmark = [pytest.mark.timeout(60)]

SYMBOL = "BTCUSDT"
BASE = {"mode": "long", "interval": "10", "buy_levels": 5, "order_qty": "0.01"}


@pytest.fixture(scope="module")
def exchange() -> Venue:
    """The simulated exchange in process, BTCUSDT (tick 0.01) traded at 100."""
    venue = sim_venue(SYMBOL, fees=True)
    venue.inject_price(SYMBOL, "100")
    return venue


def refusal(exchange: Venue, strategy: dict[str, Any], risk: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as err:
        checked_rules(exchange, SYMBOL, parse_strategy(strategy), parse_risk(risk))
    return str(err.value)


@pytest.mark.parametrize(
    ("strategy", "risk", "expected"),
    [
        # 100 / (5 + 1) = 16.666..., shown on the tick, rounded down.
        (
            {**BASE, "interval": "50"},
            {},
            "interval must be <= price / (buy_levels + 1) = 16.66 at price 100, received 50",
        ),
        ({**BASE, "interval": "1e30"}, {}, "interval must be <= price / (buy_levels + 1) = 16.66"),
        ({**BASE, "order_qty": "1e30"}, {}, "order_qty must be <= max_order_notional / price"),
        (
            {**BASE, "order_qty": None, "order_notional": "1e30"},
            {},
            "strategy: order_qty must not be null",
        ),
        (BASE, {"max_position": "1e30"}, "max_position must be <= max_position_notional / price"),
        (BASE, {"max_open_orders": 100000}, "max_open_orders must be <= 410, received 100000"),
    ],
)
def test_a_config_that_cannot_trade_is_refused_naming_field_value_and_bound(
    exchange: Venue, strategy: dict[str, Any], risk: dict[str, Any], expected: str
) -> None:
    assert expected in refusal(exchange, strategy, risk)


def test_a_sane_config_passes_and_returns_the_venue_rules(exchange: Venue) -> None:
    rules = checked_rules(exchange, SYMBOL, parse_strategy(BASE), parse_risk({}))

    assert rules["tick_size"] == "0.01"


def test_a_null_in_an_update_is_refused_rather_than_silently_reset() -> None:
    with pytest.raises(ValidationError) as err:
        merge(BASE, {"buy_levels": None}, "strategy")

    assert "buy_levels must not be null" in str(err.value)


@pytest.mark.parametrize("reason", ["maintenance\x00now", "line\nbreak", "x" * 1001])
def test_a_halt_reason_with_control_characters_or_too_long_is_refused(reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        bind("halt", Halt, (), {"reason": reason})

    assert str(err.value).startswith("reason must ")
