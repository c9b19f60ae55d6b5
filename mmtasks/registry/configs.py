"""Strategy and risk configs as admin calls and the registry see them (errors name the section)."""

from __future__ import annotations

from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.models import GridConfig, RiskConfig, parse_grid_config, parse_risk_config

SIZE_KEYS = ("order_qty", "order_notional")


def refuse_nulls(raw: dict[str, Any], section: str) -> None:
    """Refuse a null for any field: a reset must name the value it resets to."""
    nulls = sorted(key for key, value in raw.items() if value is None)
    if nulls:
        raise ValidationError(
            f"{section}: {', '.join(nulls)} must not be null; to reset a field, give its "
            "default value (see docs/strategy.md)"
        )


def parse_strategy(raw: dict[str, Any]) -> GridConfig:
    """Return raw as a GridConfig; errors are prefixed with `strategy:`."""
    refuse_nulls(raw, "strategy")
    try:
        return parse_grid_config(raw)
    except ValidationError as exc:
        raise ValidationError(f"strategy: {exc}") from None


def parse_risk(raw: dict[str, Any]) -> RiskConfig:
    """Return raw as a RiskConfig; errors are prefixed with `risk:`."""
    refuse_nulls(raw, "risk")
    try:
        return parse_risk_config(raw)
    except ValidationError as exc:
        raise ValidationError(f"risk: {exc}") from None


def config_json(config: GridConfig | RiskConfig) -> dict[str, Any]:
    """Return a config as the registry stores it: every set field, decimals as strings."""
    return config.model_dump(mode="json", exclude_none=True)


def merge(current: dict[str, Any], patch: dict[str, Any], section: str) -> dict[str, Any]:
    """Return current with patch's keys applied (nulls refused).

    The size is exactly one of order_qty / order_notional: naming one replaces the other.
    """
    refuse_nulls(patch, section)
    out = dict(current)
    if any(key in patch for key in SIZE_KEYS):
        for key in SIZE_KEYS:
            out.pop(key, None)
    return out | patch
