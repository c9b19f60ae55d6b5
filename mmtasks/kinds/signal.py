"""The signal kind behind the strategy-kind port (its core: mmtasks/signal/)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.config import RiskConfig, SymbolRules
from mmtasks.kinds.port import StrategyConfig
from mmtasks.kinds.sizes import size_text
from mmtasks.signal.config import SignalConfig, parse_signal_config
from mmtasks.signal.execution import entry_qty

EXITS = (
    ("stop_atr", "stop", "xATR"),
    ("stop_pct", "stop", "%"),
    ("take_profit_atr", "tp", "xATR"),
    ("take_profit_pct", "tp", "%"),
)


class SignalKind:
    """Indicators on closed candles, rules to enter and exit, one position at a time."""

    name = "signal"
    starts_from_history = True

    def owns(self, config: object) -> bool:
        return isinstance(config, SignalConfig)

    def parse(self, raw: Mapping[str, Any]) -> SignalConfig:
        try:
            return parse_signal_config(raw)
        except ValidationError as exc:
            raise ValidationError(f"strategy: {exc}") from None

    def load(self, data: Mapping[str, Any]) -> SignalConfig:
        return SignalConfig.model_validate(data)

    def validate(self, config: StrategyConfig, rules: SymbolRules) -> None:
        assert isinstance(config, SignalConfig)  # its sizes are checked at a price

    def trading_errors(
        self, config: StrategyConfig, risk: RiskConfig, rules: SymbolRules, price: Decimal
    ) -> list[str]:
        assert isinstance(config, SignalConfig)
        if entry_qty(config, rules, price) is not None:
            return []
        field = "order_qty" if config.order_qty is not None else "order_notional"
        size = config.order_qty if config.order_qty is not None else config.order_notional
        return [
            f"{field} {size} is under the venue minimums at price {price} (min_qty "
            f"{rules.min_qty}, min_notional {rules.min_notional}, step {rules.step_size})"
        ]

    def spot_error(self, config: StrategyConfig, where: str) -> str | None:
        assert isinstance(config, SignalConfig)
        if "short" not in config.rules:
            return None
        return (
            f"strategy.rules.short: {where}; remove the short rule, or trade the symbol "
            "on a perpetuals venue (binanceusdm)"
        )

    def summary(self, raw: Mapping[str, Any]) -> str:
        exits = ", ".join(
            f"{label} {raw[key]}{unit}" for key, label, unit in EXITS if raw.get(key) is not None
        )
        indicators = raw.get("indicators") or []
        text = f"signal {len(indicators)} indicators, {size_text(raw)}"
        return text + (f", {exits}" if exits else "")
