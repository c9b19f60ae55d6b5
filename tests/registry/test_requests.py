"""Admin task arguments: bound by position or name, strictly typed, every problem named."""

from __future__ import annotations

from typing import Any

import pytest

from mmtasks.errors import ValidationError
from mmtasks.registry.requests import (
    AddSymbol,
    AdminRequest,
    Halt,
    NoArgs,
    RemoveSymbol,
    Status,
    UpdateSymbol,
    bind,
)

GRID = {"interval": "10", "order_qty": "1"}


@pytest.mark.parametrize(
    ("model", "args", "kwargs", "message"),
    [
        (
            AddSymbol,
            (),
            {"symbol": "BTC-USD", "strategy": GRID},
            "symbol must be 2-20 letters or digits like 'BTCUSDT', received 'BTC-USD'",
        ),
        (
            AddSymbol,
            (),
            {"symbol": 5, "strategy": GRID},
            "symbol must be 2-20 letters or digits like 'BTCUSDT', received 5",
        ),
        (
            AddSymbol,
            ("BTCUSDT",),
            {"exchange": "kraken", "strategy": GRID},
            "exchange must be one of sim, binanceusdm, binance, received 'kraken'",
        ),
        (
            AddSymbol,
            ("BTCUSDT",),
            {"strategy": "grid"},
            "strategy must be an object of config fields, received 'grid'",
        ),
        (
            AddSymbol,
            ("BTCUSDT",),
            {},
            "strategy is required: t takes (symbol, exchange, strategy, risk, consumer)",
        ),
        (
            AddSymbol,
            ("BTCUSDT",),
            {"strategy": GRID, "symbl": "X"},
            "unknown argument 'symbl': t takes (symbol, exchange, strategy, risk, consumer)",
        ),
        (
            AddSymbol,
            ("BTCUSDT",),
            {"strategy": GRID, "consumer": "everyone"},
            "consumer must be a Celery worker node name like 'btcusdt@host', received 'everyone'",
        ),
        (
            RemoveSymbol,
            ("BTCUSDT",),
            {"force": "yes"},
            "force: input should be a valid boolean, received 'yes'",
        ),
        (RemoveSymbol, ("BTCUSDT", True, 1), {}, "t takes (symbol, force), received 3 positional"),
        (
            RemoveSymbol,
            ("BTCUSDT",),
            {"symbol": "ETHUSDT"},
            "symbol was given both by position and by name",
        ),
        (
            UpdateSymbol,
            ("BTCUSDT",),
            {"risk": [1]},
            "risk must be an object of config fields, received [1]",
        ),
        (Halt, (), {"reason": "   "}, "reason must say why, received '   '"),
        (Halt, (5,), {}, "reason: input should be a valid string, received 5"),
        (NoArgs, ("now",), {}, "t takes no arguments, received 1 positional"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_and_the_problem(
    model: type[AdminRequest],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValidationError) as err:
        bind("t", model, args, kwargs)

    assert message in str(err.value)


def test_positional_and_named_arguments_bind_to_the_same_fields() -> None:
    by_position = bind("t", AddSymbol, ("btcusdt", "sim", GRID), {})
    by_name = bind("t", AddSymbol, (), {"symbol": "BTCUSDT", "strategy": GRID})

    assert by_position == by_name
    assert by_name == AddSymbol(symbol="BTCUSDT", strategy=GRID)


def test_optional_arguments_accept_null() -> None:
    assert bind("t", Status, (), {"symbol": None}) == Status()
    assert bind("t", UpdateSymbol, ("BTCUSDT",), {"strategy": None, "risk": {}}).risk == {}
