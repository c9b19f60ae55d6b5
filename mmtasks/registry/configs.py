"""Strategy and risk configs as admin calls and the registry see them (errors name the section)."""

from __future__ import annotations

from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.models import GridConfig, RiskConfig, parse_grid_config, parse_risk_config


def parse_strategy(raw: dict[str, Any]) -> GridConfig:
    """Return raw as a GridConfig; errors are prefixed with `strategy:`."""
    try:
        return parse_grid_config(raw)
    except ValidationError as exc:
        raise ValidationError(f"strategy: {exc}") from None


def parse_risk(raw: dict[str, Any]) -> RiskConfig:
    """Return raw as a RiskConfig; errors are prefixed with `risk:`."""
    try:
        return parse_risk_config(raw)
    except ValidationError as exc:
        raise ValidationError(f"risk: {exc}") from None


def config_json(config: GridConfig | RiskConfig) -> dict[str, Any]:
    """Return a config as the registry stores it: every set field, decimals as strings."""
    return config.model_dump(mode="json", exclude_none=True)


def merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return current with patch's keys applied; a key set to None is removed."""
    out = {**current, **patch}
    return {key: value for key, value in out.items() if value is not None}
