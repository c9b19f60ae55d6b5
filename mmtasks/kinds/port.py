"""The port a strategy kind implements: what the registry, the worker and the tools ask of it.

A kind is a package with a pure core (`grid/`, `signal/`) and one adapter here. Everything that
differs between kinds when a config is read, checked or shown goes through this port, so a third
kind adds its package, its adapter, and one line in `mmtasks/kinds/__init__.py`'s table.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from mmtasks.grid.config import RiskConfig, SymbolRules
from mmtasks.grid.models import GridConfig
from mmtasks.signal.config import SignalConfig

StrategyConfig = GridConfig | SignalConfig


class StrategyKind(Protocol):
    """One strategy kind, as the rest of mmtasks sees it."""

    name: str  # the config's `kind` ("grid" when absent)
    starts_from_history: bool  # a new symbol first reads the venue's closed candles

    def owns(self, config: object) -> bool:
        """Return True when config is a config of this kind."""

    def parse(self, raw: Mapping[str, Any]) -> StrategyConfig:
        """Return raw (as an operator gave it) checked; ValidationError says `strategy: ...`."""

    def load(self, data: Mapping[str, Any]) -> StrategyConfig:
        """Return a config as the worker stored it (checked when it was given)."""

    def validate(self, config: StrategyConfig, rules: SymbolRules) -> None:
        """Raise ValidationError when config cannot trade under the symbol's rules at all."""

    def trading_errors(
        self, config: StrategyConfig, risk: RiskConfig, rules: SymbolRules, price: Decimal
    ) -> list[str]:
        """Return why config cannot trade these rules at this price (empty: it can)."""

    def spot_error(self, config: StrategyConfig, where: str) -> str | None:
        """Return why config cannot trade a long-only spot market (`where` names it), or None."""

    def summary(self, raw: Mapping[str, Any]) -> str:
        """Return a one-line summary of a stored config (`mmtasks symbols`)."""
