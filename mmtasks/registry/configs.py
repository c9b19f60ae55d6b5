"""Strategy and risk configs as admin calls and the registry see them (errors name the section)."""

from __future__ import annotations

from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.models import GridConfig, RiskConfig, parse_risk_config
from mmtasks.kinds import StrategyConfig, kind_of_raw
from mmtasks.kinds import kind_of as kind_of_config

SIZE_KEYS = ("order_qty", "order_notional")
# Keys of which a config holds exactly one: naming one in a patch replaces the other.
EXCLUSIVE = (SIZE_KEYS, ("stop_atr", "stop_pct"), ("take_profit_atr", "take_profit_pct"))


def kind_of(raw: dict[str, Any]) -> str:
    """Return the strategy kind a raw config names (`grid` when it names none)."""
    return kind_of_raw(raw).name


def kind_name(config: StrategyConfig) -> str:
    """Return the strategy kind of a parsed config."""
    return kind_of_config(config).name


def parse_strategy_config(raw: dict[str, Any]) -> StrategyConfig:
    """Return raw as the config of its kind (mmtasks/kinds); errors say `strategy:`."""
    kind = kind_of_raw(raw)
    refuse_nulls(raw, "strategy")
    return kind.parse(raw)


def refuse_nulls(raw: dict[str, Any], section: str) -> None:
    """Refuse a null for any field: a reset must name the value it resets to."""
    nulls = sorted(key for key, value in raw.items() if value is None)
    if nulls:
        raise ValidationError(
            f"{section}: {', '.join(nulls)} must not be null; to reset a field, give its "
            "default value (see docs/strategy.md)"
        )


def parse_strategy(raw: dict[str, Any]) -> GridConfig:
    """Return raw (a grid config; `kind: grid` allowed) as a GridConfig; errors say `strategy:`."""
    if kind_of(raw) != "grid":
        raise ValidationError(
            "strategy: kind 'signal' is not a grid config; read it with parse_strategy_config"
        )
    config = parse_strategy_config(raw)
    assert isinstance(config, GridConfig)
    return config


def parse_risk(raw: dict[str, Any]) -> RiskConfig:
    """Return raw as a RiskConfig; errors are prefixed with `risk:`."""
    refuse_nulls(raw, "risk")
    try:
        return parse_risk_config(raw)
    except ValidationError as exc:
        raise ValidationError(f"risk: {exc}") from None


def config_json(config: StrategyConfig | RiskConfig) -> dict[str, Any]:
    """Return a config as the registry stores it: every set field, decimals as strings."""
    return config.model_dump(mode="json", exclude_none=True)


def merge(current: dict[str, Any], patch: dict[str, Any], section: str) -> dict[str, Any]:
    """Return current with patch's keys applied (nulls refused).

    The size is exactly one of order_qty / order_notional: naming one replaces the other (so
    for a signal's stop_atr / stop_pct and take_profit_atr / take_profit_pct). A
    strategy patch naming another kind than current's is the whole new config (nothing merged).
    """
    refuse_nulls(patch, section)
    if section == "strategy" and "kind" in patch and kind_of(patch) != kind_of(current):
        return dict(patch)
    out = dict(current)
    for pair in EXCLUSIVE:
        if any(key in patch for key in pair):
            for key in pair:
                out.pop(key, None)
    return out | patch
