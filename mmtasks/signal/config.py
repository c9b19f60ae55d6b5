"""The signal strategy's configuration (`strategy_config` with `kind: signal`), validated.

Everything a rule refers to is checked when the config is read: unknown indicators, operators
and operands are refused naming the bad token, and bounds name the field, the value and the
bound, as `GridConfig` does (docs/strategy.md, "The signal kind").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mmtasks.decimals import canon, parse_decimal
from mmtasks.errors import ValidationError
from mmtasks.grid.config import int_in_range, one_of, validated
from mmtasks.signal.indicators import IndicatorSpec, parse_indicator
from mmtasks.signal.rules import Condition, parse_conditions

SIGNAL_KINDS: tuple[str, ...] = ("long", "short", "exit_long", "exit_short")
REGIME_RULES: tuple[str, ...] = ("trend_up", "trend_down")
MAX_INDICATORS = 20
MAX_BARS = 10_000
REBUILD_DECAY_PERIODS = 20  # nbr_bars >= this x the longest recursive period (see indicators.py)
RECURSIVE = ("ema", "rsi", "atr", "macd")
# (low exclusive, high inclusive) bounds of the decimal settings
BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "order_qty": (Decimal(0), Decimal(10) ** 9),
    "order_notional": (Decimal(0), Decimal(10) ** 9),
    "stop_atr": (Decimal(0), Decimal(100)),
    "take_profit_atr": (Decimal(0), Decimal(100)),
    "stop_pct": (Decimal(0), Decimal("0.5")),
    "take_profit_pct": (Decimal(0), Decimal(10)),
}
MAX_SLIPPAGE_PCT = Decimal("0.1")


@dataclass(frozen=True)
class Compiled:
    """The parsed parts of a config: indicator specs and conditions, by rule name."""

    indicators: tuple[IndicatorSpec, ...]
    regime: Mapping[str, tuple[Condition, ...]]
    rules: Mapping[str, tuple[Condition, ...]]


class SignalConfig(BaseModel):
    """Strategy configuration of a signal symbol; see docs/strategy.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["signal"] = "signal"
    indicators: tuple[str, ...]
    regime: dict[str, tuple[str, ...]] = {}
    rules: dict[str, tuple[str, ...]]
    min_rows_required: int = 50
    evaluation: Literal["on_new_candle", "on_tick"] = "on_new_candle"
    order_qty: Decimal | None = None
    order_notional: Decimal | None = None
    stop_atr: Decimal | None = None
    stop_pct: Decimal | None = None
    take_profit_atr: Decimal | None = None
    take_profit_pct: Decimal | None = None
    atr: str = "atr_14"
    slippage_pct: Decimal = Decimal("0.005")
    cooldown_bars: int = 0
    nbr_bars: int = 500

    _compiled: Compiled = PrivateAttr()

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        if value != "signal":
            raise ValidationError(f"kind must be 'signal' for a signal config, received {value!r}")
        return value

    @field_validator("evaluation", mode="before")
    @classmethod
    def _evaluation(cls, value: object) -> str:
        return one_of(value, "evaluation", ("on_new_candle", "on_tick"))

    @field_validator("indicators", mode="before")
    @classmethod
    def _indicators(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValidationError(
                f"indicators must be a non-empty list like ['ema_9', 'rsi_14'], received {value!r}"
            )
        if len(value) > MAX_INDICATORS:
            raise ValidationError(
                f"indicators must list at most {MAX_INDICATORS}, received {len(value)}"
            )
        names = tuple(parse_indicator(v, f"indicators[{i}]").name for i, v in enumerate(value))
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValidationError(
                f"indicators must be unique, received {', '.join(repeated)} twice"
            )
        return names

    @field_validator("regime", "rules", mode="before")
    @classmethod
    def _rule_map(cls, value: object, info: ValidationInfo) -> dict[str, object]:
        field = info.field_name or "rules"
        allowed = REGIME_RULES if field == "regime" else SIGNAL_KINDS
        if not isinstance(value, Mapping):
            raise ValidationError(f"{field} must be an object, received {value!r}")
        for key in value:
            if key not in allowed:
                raise ValidationError(
                    f"{field}: unknown rule {key!r}; expected {', '.join(allowed)}"
                )
        return dict(value)

    @field_validator(*BOUNDS, mode="before")
    @classmethod
    def _bounded(cls, value: object, info: ValidationInfo) -> Decimal | None:
        field = info.field_name or "value"
        if value is None:
            return None
        number = parse_decimal(value, field)
        low, high = BOUNDS[field]
        if not low < number <= high:
            raise ValidationError(
                f"{field} must be > {canon(low)} and <= {canon(high)}, received {canon(number)}"
            )
        return number

    @field_validator("slippage_pct", mode="before")
    @classmethod
    def _slippage(cls, value: object) -> Decimal:
        number = parse_decimal(value, "slippage_pct", non_negative=True)
        if number > MAX_SLIPPAGE_PCT:
            raise ValidationError(
                f"slippage_pct must be <= {canon(MAX_SLIPPAGE_PCT)}, received {canon(number)}"
            )
        return number

    @field_validator("min_rows_required", "nbr_bars", "cooldown_bars", mode="before")
    @classmethod
    def _ints(cls, value: object, info: ValidationInfo) -> int:
        low = 0 if info.field_name == "cooldown_bars" else 1
        return int_in_range(value, info.field_name or "value", low, MAX_BARS)

    @model_validator(mode="after")
    def _whole(self) -> SignalConfig:
        _exactly_one(self, "order_qty", "order_notional")
        _exactly_one(self, "stop_atr", "stop_pct")
        _exactly_one(self, "take_profit_atr", "take_profit_pct")
        specs = tuple(parse_indicator(n) for n in self.indicators)
        known = {key for s in specs for key in s.keys}
        regime = {
            name: parse_conditions(list(conds), known, f"regime.{name}", allow_regime=False)
            for name, conds in self.regime.items()
        }
        rules = {
            name: parse_conditions(list(conds), known, f"rules.{name}")
            for name, conds in self.rules.items()
        }
        if "long" not in rules and "short" not in rules:
            raise ValidationError("rules must have a 'long' or a 'short' rule, received neither")
        for side in ("long", "short"):
            if f"exit_{side}" in rules and side not in rules:
                raise ValidationError(f"rules.exit_{side} is given without rules.{side}")
        if self.stop_atr is not None or self.take_profit_atr is not None:
            atr = next((s for s in specs if s.name == self.atr), None)
            if atr is None or atr.kind != "atr":
                raise ValidationError(
                    f"atr must name a declared atr_<n> indicator for stop_atr / take_profit_atr, "
                    f"received {self.atr!r} (declared: {', '.join(self.indicators)})"
                )
        self._check_history(specs, [*regime.values(), *rules.values()])
        self._compiled = Compiled(specs, regime, rules)
        return self

    def _check_history(
        self, specs: tuple[IndicatorSpec, ...], groups: list[tuple[Condition, ...]]
    ) -> None:
        used = {name for group in groups for cond in group for name in cond.names()}
        if self.stop_atr is not None or self.take_profit_atr is not None:
            used.add(self.atr)
        needed, why = 1, "one candle"
        for spec in specs:
            if any(key in used for key in spec.keys) and spec.warmup > needed:
                needed, why = spec.warmup, f"{spec.name} needs {spec.warmup} candles"
        if any(cond.is_trigger for group in groups for cond in group):
            needed, why = needed + 1, f"{why}, and a crossing one more"
        if self.min_rows_required < needed:
            raise ValidationError(
                f"min_rows_required must be >= {needed} ({why}), received {self.min_rows_required}"
            )
        if self.nbr_bars < self.min_rows_required:
            raise ValidationError(
                f"nbr_bars must be >= min_rows_required = {self.min_rows_required}, "
                f"received {self.nbr_bars}"
            )
        recursive = [s for s in specs if s.kind in RECURSIVE]
        if recursive:
            longest = max(recursive, key=lambda s: s.longest)
            bound = REBUILD_DECAY_PERIODS * longest.longest
            if self.nbr_bars < bound:
                raise ValidationError(
                    f"nbr_bars must be >= {REBUILD_DECAY_PERIODS} x the longest period "
                    f"({longest.name}) = {bound}, so indicators rebuilt from history match, "
                    f"received {self.nbr_bars}"
                )

    @property
    def compiled(self) -> Compiled:
        """Return the parsed indicators and rules."""
        return self._compiled


def _exactly_one(config: SignalConfig, first: str, second: str) -> None:
    a, b = getattr(config, first), getattr(config, second)
    if (a is None) == (b is None):
        received = "both" if a is not None else "neither"
        raise ValidationError(f"set exactly one of {first} or {second}, received {received}")


def parse_signal_config(raw: Mapping[str, object]) -> SignalConfig:
    """Return raw (JSON-like) as a SignalConfig or raise mmtasks ValidationError."""
    return validated(SignalConfig, raw, "strategy_config")
