"""The grid kind behind the strategy-kind port (its core: mmtasks/grid/)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.config import (
    RiskConfig,
    SymbolRules,
    parse_grid_config,
    trading_config_errors,
    validate_config,
)
from mmtasks.grid.models import GridConfig
from mmtasks.kinds.port import StrategyConfig
from mmtasks.kinds.sizes import size_text


class GridKind:
    """Levels around an anchor, each filled entry closed one interval away."""

    name = "grid"
    starts_from_history = False

    def owns(self, config: object) -> bool:
        return isinstance(config, GridConfig)

    def parse(self, raw: Mapping[str, Any]) -> GridConfig:
        try:
            return parse_grid_config({k: v for k, v in raw.items() if k != "kind"})
        except ValidationError as exc:
            raise ValidationError(f"strategy: {exc}") from None

    def load(self, data: Mapping[str, Any]) -> GridConfig:
        return GridConfig.model_validate({k: v for k, v in data.items() if k != "kind"})

    def validate(self, config: StrategyConfig, rules: SymbolRules) -> None:
        assert isinstance(config, GridConfig)
        validate_config(config, rules)

    def trading_errors(
        self, config: StrategyConfig, risk: RiskConfig, rules: SymbolRules, price: Decimal
    ) -> list[str]:
        assert isinstance(config, GridConfig)
        return trading_config_errors(config, risk, rules, price)

    def spot_error(self, config: StrategyConfig, where: str) -> str | None:
        assert isinstance(config, GridConfig)
        if config.mode == "long":
            return None
        return (
            f"strategy.mode: {config.mode} holds short inventory but {where}; use mode "
            "long, or trade the symbol on a perpetuals venue (binanceusdm)"
        )

    def summary(self, raw: Mapping[str, Any]) -> str:
        return (
            f"grid {raw.get('mode', 'long')} every {raw.get('interval')}, "
            f"{raw.get('buy_levels', 10)}/{raw.get('sell_levels', 10)} levels, {size_text(raw)}"
        )
