"""Config validation against the venue rules and a price, and the "no quotable level" reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.config import (
    TradingLimits,
    parse_grid_config,
    parse_risk_config,
    trading_config_errors,
    validate_config,
    validate_trading_config,
)
from mmtasks.grid.ids import MAX_GENERATION, client_order_id, max_client_id_length
from mmtasks.grid.models import GridConfig, RiskConfig, SymbolRules
from mmtasks.grid.quotable import no_quote_reason

D = Decimal
RULES = SymbolRules(D("0.01"), D("0.001"), D("0.001"), D(5))
PRICE = D(100)


def grid(**overrides: object) -> GridConfig:
    values: dict[str, object] = {"interval": "10", "buy_levels": 2, "order_qty": "1"}
    values.update(overrides)
    return parse_grid_config({k: v for k, v in values.items() if v is not None})


def errors(
    cfg: GridConfig | None = None, risk: dict[str, object] | None = None, **kw: object
) -> list[str]:
    return trading_config_errors(
        cfg or grid(),
        parse_risk_config(risk or {}),
        kw.pop("rules", RULES),  # type: ignore[arg-type]
        kw.pop("price", PRICE),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_sane_config_has_no_errors() -> None:
    assert errors(risk={"max_position": "5", "max_open_orders": 10}) == []


@pytest.mark.parametrize(
    ("cfg", "risk", "message"),
    [
        (
            grid(interval="50", buy_levels=10),
            {},
            "interval must be <= price / (buy_levels + 1) = 9.09 at price 100, received 50",
        ),
        (
            grid(interval="34"),
            {},
            "interval must be <= price / (buy_levels + 1) = 33.33 at price 100, received 34",
        ),
        (
            grid(order_qty="1e30"),
            {},
            "order_qty must be <= max_order_notional / price = 1000 at price 100 "
            "(max_order_notional 100000), received 1" + "0" * 30,
        ),
        (
            grid(order_qty=None, order_notional="200000"),
            {},
            "order_notional must be <= max_order_notional = 100000, received 200000",
        ),
        (
            grid(),
            {"max_position": "1e30"},
            "max_position must be <= max_position_notional / price = 10000 at price 100 "
            "(max_position_notional 1000000), received 1" + "0" * 30,
        ),
        (grid(), {"max_open_orders": 100_000}, "max_open_orders must be <= 410, received 100000"),
        (grid(), {"stale_after_s": 10**9}, "stale_after_s must be <= 86400, received 1000000000"),
        (grid(), {"average_window": 5000}, "average_window must be <= 1000, received 5000"),
        (
            grid(),
            {"volume_multiplier": "1e6"},
            "volume_multiplier must be <= 1000, received 1000000",
        ),
        (grid(atr_scale="500"), {}, "atr_scale must be <= 100, received 500"),
        (
            grid(inventory_skew="0.5"),
            {"max_position": "4"},
            "inventory_skew must be < 1 / max_position = 0.25 (else the skewed price can reach "
            "zero), received 0.5",
        ),
        (
            grid(inventory_skew="2"),
            {},
            "inventory_skew must be <= max_inventory_skew = 1, received 2",
        ),
        (grid(interval="0.004"), {}, "interval must be at least the tick size 0.01"),
    ],
)
def test_each_bound_names_the_field_the_bound_and_the_value(
    cfg: GridConfig, risk: dict[str, object], message: str
) -> None:
    found = errors(cfg, risk)

    assert any(e.startswith(message) for e in found), found


def test_the_equity_fraction_bounds_the_order_when_equity_is_known() -> None:
    cfg = grid(order_qty="20")

    assert errors(cfg) == []
    assert errors(cfg, equity=D(10_000)) == [
        "order_qty must be <= equity x max_equity_fraction / price = 10 at price 100 "
        "(equity x max_equity_fraction 1000), received 20"
    ]
    assert errors(cfg, equity=D(10_000), limits=TradingLimits(max_equity_fraction=None)) == []


def test_validate_trading_config_raises_every_reason_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_trading_config(grid(interval="50", order_qty="1e30"), RiskConfig(), RULES, PRICE)

    assert str(exc.value).count("; ") == 1
    assert "interval must be <=" in str(exc.value) and "order_qty must be <=" in str(exc.value)


def test_validate_config_still_checks_the_rules_alone() -> None:
    with pytest.raises(ValidationError, match="interval must be at least the tick size"):
        validate_config(grid(interval="0.004"), RULES)


@pytest.mark.parametrize(
    ("tick", "price", "ok"),
    [
        ("0.01", "100", True),
        ("0.00000001", "100000", True),  # 1e6 x 10 levels: 7 digits + p + 8 decimals -> 32
        ("0.00000001", "1000000", False),  # one more digit -> 33
        ("0.000000001", "100000", False),  # 7 digits + p + 9 decimals -> 33
    ],
)
def test_client_ids_are_proven_to_fit_for_every_reachable_level(
    tick: str, price: str, ok: bool
) -> None:
    rules = SymbolRules(D(tick), D("0.001"), D(0), D(0))
    cfg = grid(interval=str(D(price) / 100), buy_levels=2, order_qty="0.001")

    found = [e for e in errors(cfg, rules=rules, price=D(price)) if "client order ids" in e]

    assert (found == []) is ok, found


@settings(max_examples=300, deadline=None)
@given(
    decimals=st.integers(0, 8),
    ticks=st.integers(1, 10**12),
    generation=st.sampled_from([1, 1_700_000_000, MAX_GENERATION]),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_the_id_length_bound_holds_for_any_level_below_it(
    decimals: int, ticks: int, generation: int, side: Side
) -> None:
    tick = D(1).scaleb(-decimals)
    level = ticks * tick
    bound = max_client_id_length(level, tick)
    if bound > 32:
        return  # such levels are refused by validation; the id itself would raise
    cid = client_order_id("BTCUSDT", level, side, generation)

    assert len(cid) <= bound


@pytest.mark.parametrize(
    ("cfg", "risk", "expected"),
    [
        (grid(), {}, None),
        (grid(mode="neutral", order_qty="0.04"), {}, None),  # 0.04 x 120 clears 5, 0.04 x 90 not
        (grid(interval="120"), {}, "no quotable level: every buy level is at or below zero"),
        (grid(order_qty="0.01"), {}, "no quotable level: the order size is under the venue"),
        (
            grid(order_qty=None, order_notional="1"),
            {},
            "no quotable level: the order size is under the venue",
        ),
        (grid(), {"max_position": "0.5"}, "no quotable level: max_position 0.5 is below one"),
    ],
)
def test_no_quote_reason_says_why_nothing_would_be_quoted(
    cfg: GridConfig, risk: dict[str, object], expected: str | None
) -> None:
    reason = no_quote_reason(cfg, parse_risk_config(risk), RULES, PRICE)

    if expected is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(expected), reason
