"""Shared builders of configs and venue rules.

`GRID` is the configuration of GRID.md's case table: interval 10, 2 levels a side, order_qty 1
(long mode); `NEUTRAL` the same in neutral mode. The case table assumes no fees: `sim_venue`
builds an in-process venue whose symbols trade without fees unless asked for them.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

GRID: dict[str, Any] = {
    "mode": "long",
    "interval": "10",
    "buy_levels": 2,
    "sell_levels": 2,
    "order_qty": "1",
}
NEUTRAL: dict[str, Any] = {**GRID, "mode": "neutral"}
ZERO = Decimal(0)


def grid_config(**overrides: Any) -> dict[str, Any]:
    """Return GRID with overrides (naming one size replaces the other, as update_symbol does)."""
    config = {**GRID, **overrides}
    if "order_notional" in overrides:
        config.pop("order_qty", None)
    return config


def sim_venue(*symbols: str, fees: bool = False, start_price: str = "100") -> Any:
    """Return an in-process SimVenue listing symbols (the sim's generic rules), fee-free."""
    from mmtasks.sim import SimConfig, SimExchange, SimVenue
    from mmtasks.sim.rules import rules_for

    rules = {s: rules_for(s, Decimal(start_price)) for s in symbols}
    if not fees:
        rules = {
            s: dataclasses.replace(r, maker_fee_rate=ZERO, taker_fee_rate=ZERO)
            for s, r in rules.items()
        }
    return SimVenue(SimExchange(SimConfig(symbols=symbols, rules=rules, id_prefix="")))
