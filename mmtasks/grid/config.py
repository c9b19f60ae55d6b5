"""Per-symbol configuration: strategy (GridConfig), risk (RiskConfig), venue rules (SymbolRules)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from mmtasks.decimals import ZERO, canon, parse_decimal, snap_down, snap_nearest
from mmtasks.errors import ValidationError

MAX_LEVELS = 200
KLINE_INTERVAL_RE = re.compile(r"^[1-9][0-9]*[smhdwM]$")


def _decimal_or_none(value: object, info: ValidationInfo) -> Decimal | None:
    # Money is exact: a float would already have lost digits, so it is refused, not converted.
    if value is None:
        return None
    return parse_decimal(value, info.field_name or "value")


def _int_in_range(value: object, field: str, low: int, high: int | None = None) -> int:
    # bool is an int in Python; a config saying `buy_levels: true` is a mistake, not a 1.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{field} must be an integer, received {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"{field} must be an integer, received {value!r}") from None
    if number < low or (high is not None and number > high):
        expected = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValidationError(f"{field} must be {expected}, received {number}")
    return number


class GridConfig(BaseModel):
    """Strategy configuration of one symbol (`strategy_config`), see docs/strategy.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["long", "neutral"] = "long"
    interval: Decimal
    buy_levels: int = 10
    sell_levels: int = 10
    order_qty: Decimal | None = None
    order_notional: Decimal | None = None
    post_only: bool = True
    atr_scale: Decimal = ZERO
    inventory_skew: Decimal = ZERO

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if value not in ("long", "neutral"):
            raise ValidationError(f"mode must be 'long' or 'neutral', received {value!r}")
        return value

    @field_validator(
        "interval", "order_qty", "order_notional", "atr_scale", "inventory_skew", mode="before"
    )
    @classmethod
    def _decimals(cls, value: object, info: ValidationInfo) -> Decimal | None:
        number = _decimal_or_none(value, info)
        field = info.field_name
        if number is None:
            if field in ("interval", "atr_scale", "inventory_skew"):
                raise ValidationError(f"{field} must be a decimal string, received None")
            return None
        if field in ("interval", "order_qty", "order_notional") and number <= 0:
            raise ValidationError(f"{field} must be > 0, received {canon(number)}")
        if number < 0:
            raise ValidationError(f"{field} must be >= 0, received {canon(number)}")
        return number

    @field_validator("buy_levels", "sell_levels", mode="before")
    @classmethod
    def _levels(cls, value: object, info: ValidationInfo) -> int:
        return _int_in_range(value, info.field_name or "levels", 1, MAX_LEVELS)

    @field_validator("post_only", mode="before")
    @classmethod
    def _bool(cls, value: object, info: ValidationInfo) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"{info.field_name} must be true or false, received {value!r}")
        return value

    @model_validator(mode="after")
    def _one_size(self) -> GridConfig:
        if self.order_qty is not None and self.order_notional is not None:
            raise ValidationError("set exactly one of order_qty or order_notional, received both")
        if self.order_qty is None and self.order_notional is None:
            raise ValidationError(
                "set exactly one of order_qty or order_notional, received neither"
            )
        return self


class RiskConfig(BaseModel):
    """Per-symbol risk limits and the candle monitor (`risk_config`), see docs/strategy.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position: Decimal | None = None
    max_open_orders: int | None = None
    stale_after_s: int = 60
    kline_interval: str = "1m"
    average_window: int = 20
    volume_multiplier: Decimal = Decimal(3)
    enable_volume_monitor: bool = True

    @field_validator("max_position", "volume_multiplier", mode="before")
    @classmethod
    def _decimals(cls, value: object, info: ValidationInfo) -> Decimal | None:
        number = _decimal_or_none(value, info)
        if number is None:
            if info.field_name == "volume_multiplier":
                raise ValidationError("volume_multiplier must be a decimal string, received None")
            return None
        if number <= 0:
            raise ValidationError(f"{info.field_name} must be > 0, received {canon(number)}")
        return number

    @field_validator("max_open_orders", "stale_after_s", "average_window", mode="before")
    @classmethod
    def _ints(cls, value: object, info: ValidationInfo) -> int | None:
        if value is None and info.field_name == "max_open_orders":
            return None
        return _int_in_range(value, info.field_name or "value", 1)

    @field_validator("kline_interval", mode="before")
    @classmethod
    def _kline(cls, value: object) -> str:
        if not isinstance(value, str) or not KLINE_INTERVAL_RE.match(value):
            raise ValidationError(
                f"kline_interval must look like '1m', '5m' or '1h', received {value!r}"
            )
        return value

    @field_validator("enable_volume_monitor", mode="before")
    @classmethod
    def _bool(cls, value: object) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(
                f"enable_volume_monitor must be true or false, received {value!r}"
            )
        return value


def _clean_errors(exc: pydantic.ValidationError) -> str:
    # Our validators raise mmtasks ValidationError with the final wording; pydantic wraps it in
    # "Value error, ...". Unwrap it, and phrase pydantic's own errors the same way.
    messages = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "config"
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValidationError):
            messages.append(str(cause))
        elif error["type"] == "extra_forbidden":
            messages.append(f"unknown field {field!r}, received {error['input']!r}")
        elif error["type"] == "missing":
            messages.append(f"{field} is required")
        else:
            messages.append(f"{field}: {error['msg']}, received {error['input']!r}")
    return "; ".join(messages)


def parse_grid_config(raw: Mapping[str, object]) -> GridConfig:
    """Return raw (JSON-like) as a GridConfig or raise mmtasks ValidationError."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"strategy_config must be an object, received {raw!r}")
    try:
        return GridConfig.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        raise ValidationError(_clean_errors(exc)) from None


def parse_risk_config(raw: Mapping[str, object]) -> RiskConfig:
    """Return raw (JSON-like) as a RiskConfig or raise mmtasks ValidationError."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"risk_config must be an object, received {raw!r}")
    try:
        return RiskConfig.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        raise ValidationError(_clean_errors(exc)) from None


@dataclass(frozen=True)
class SymbolRules:
    """Venue trading rules of one symbol (from GetSymbolInfo)."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal

    def __post_init__(self) -> None:
        for name in ("tick_size", "step_size"):
            parse_decimal(getattr(self, name), name, positive=True)
        for name in ("min_qty", "min_notional"):
            parse_decimal(getattr(self, name), name, non_negative=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SymbolRules:
        """Return rules from decimal strings (the connector's SymbolInfo fields)."""
        return cls(
            tick_size=parse_decimal(data.get("tick_size"), "tick_size", positive=True),
            step_size=parse_decimal(data.get("step_size"), "step_size", positive=True),
            min_qty=parse_decimal(data.get("min_qty", "0"), "min_qty", non_negative=True),
            min_notional=parse_decimal(
                data.get("min_notional", "0"), "min_notional", non_negative=True
            ),
        )

    def to_dict(self) -> dict[str, str]:
        """Return the rules as canonical decimal strings."""
        return {
            "tick_size": canon(self.tick_size),
            "step_size": canon(self.step_size),
            "min_qty": canon(self.min_qty),
            "min_notional": canon(self.min_notional),
        }


def snapped_interval(config: GridConfig, rules: SymbolRules) -> Decimal:
    """Return the configured interval snapped to the tick size (never below one tick)."""
    return max(snap_nearest(config.interval, rules.tick_size), rules.tick_size)


def validate_config(config: GridConfig, rules: SymbolRules) -> None:
    """Raise ValidationError when config cannot trade under the symbol's rules."""
    if snap_nearest(config.interval, rules.tick_size) < rules.tick_size:
        raise ValidationError(
            f"interval must be at least the tick size {canon(rules.tick_size)}, "
            f"received {canon(config.interval)}"
        )
    if config.order_qty is not None:
        qty = snap_down(config.order_qty, rules.step_size)
        if qty <= 0 or qty < rules.min_qty:
            raise ValidationError(
                f"order_qty must be >= min_qty {canon(rules.min_qty)} after snapping down to "
                f"step {canon(rules.step_size)}, received {canon(config.order_qty)}"
            )
    if config.order_notional is not None and config.order_notional < rules.min_notional:
        raise ValidationError(
            f"order_notional must be >= min_notional {canon(rules.min_notional)}, "
            f"received {canon(config.order_notional)}"
        )
