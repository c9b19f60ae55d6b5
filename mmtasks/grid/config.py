"""Per-symbol configuration: strategy (GridConfig), risk (RiskConfig), venue rules (SymbolRules)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from mmtasks.decimals import ZERO, canon, parse_decimal, snap_down, snap_nearest
from mmtasks.errors import ValidationError, explain
from mmtasks.grid.actions import fields_text
from mmtasks.grid.ids import MAX_GENERATION, MAX_ID_LEN, max_client_id_length

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

MAX_LEVELS = 200
ModelT = TypeVar("ModelT", bound=BaseModel)
KLINE_INTERVAL_RE = re.compile(r"^[1-9][0-9]*[smhdwM]$")


def _decimal_or_none(value: object, info: ValidationInfo) -> Decimal | None:
    # Money is exact: a float would already have lost digits, so it is refused, not converted.
    if value is None:
        return None
    return parse_decimal(value, info.field_name or "value")


def int_in_range(value: object, field: str, low: int, high: int | None = None) -> int:
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


def one_of(value: object, field: str, choices: tuple[str, ...]) -> str:
    """Return value when it is one of choices, else raise ValidationError naming them."""
    if not isinstance(value, str) or value not in choices:
        names = " or ".join(repr(choice) for choice in choices)
        raise ValidationError(f"{field} must be {names}, received {value!r}")
    return value


def true_or_false(value: object, field: str) -> bool:
    """Return value when it is a bool (not 0 or 1, not "yes"), else raise ValidationError."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false, received {value!r}")
    return value


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
    def _mode(cls, value: object) -> str:
        return one_of(value, "mode", ("long", "neutral"))

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
        return int_in_range(value, info.field_name or "levels", 1, MAX_LEVELS)

    @field_validator("post_only", mode="before")
    @classmethod
    def _bool(cls, value: object, info: ValidationInfo) -> bool:
        return true_or_false(value, info.field_name or "value")

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
    # Circuit breaker (docs/risk.md): the symbol's own equity (realized - fees + unrealized)
    # falling this far below its high-water mark, or this many losing closes in a row, moves
    # the symbol to `breaker_action`; a step slower than max_tick_to_ack_ms makes it DEGRADED.
    max_drawdown_quote: Decimal | None = None
    max_losing_closes: int | None = None
    breaker_action: Literal["REDUCING", "PAUSED"] = "REDUCING"
    max_tick_to_ack_ms: int | None = None

    @field_validator("max_position", "volume_multiplier", "max_drawdown_quote", mode="before")
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

    @field_validator(
        "max_open_orders",
        "stale_after_s",
        "average_window",
        "max_losing_closes",
        "max_tick_to_ack_ms",
        mode="before",
    )
    @classmethod
    def _ints(cls, value: object, info: ValidationInfo) -> int | None:
        optional = ("max_open_orders", "max_losing_closes", "max_tick_to_ack_ms")
        if value is None and info.field_name in optional:
            return None
        return int_in_range(value, info.field_name or "value", 1)

    @field_validator("kline_interval", mode="before")
    @classmethod
    def _kline(cls, value: object) -> str:
        if not isinstance(value, str) or not KLINE_INTERVAL_RE.match(value):
            raise ValidationError(
                f"kline_interval must look like '1m', '5m' or '1h', received {value!r}"
            )
        return value

    @field_validator("breaker_action", mode="before")
    @classmethod
    def _breaker_action(cls, value: object) -> str:
        return one_of(value, "breaker_action", ("REDUCING", "PAUSED"))

    @field_validator("enable_volume_monitor", mode="before")
    @classmethod
    def _bool(cls, value: object) -> bool:
        return true_or_false(value, "enable_volume_monitor")


def clean_errors(exc: pydantic.ValidationError) -> str:
    """Return a config's pydantic errors as one message (errors.explain: our validators' own
    words unwrapped, pydantic's phrased here)."""
    return explain(exc, "config", _phrase)


_PHRASES = {  # pydantic's error type -> the message; any other type: _OTHER
    "extra_forbidden": "unknown field {field!r}, received {value!r}",
    "missing": "{field} is required",
}
_OTHER = "{field}: {msg}, received {value!r}"


def _phrase(field: str, error: ErrorDetails) -> str:
    template = _PHRASES.get(error["type"], _OTHER)
    return template.format(field=field, msg=error["msg"], value=error["input"])


def validated(model: type[ModelT], raw: Mapping[str, object], what: str) -> ModelT:
    """Return raw (JSON-like) as a model, or raise mmtasks ValidationError (what names it)."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{what} must be an object, received {raw!r}")
    try:
        return model.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        raise ValidationError(clean_errors(exc)) from None


def parse_grid_config(raw: Mapping[str, object]) -> GridConfig:
    """Return raw (JSON-like) as a GridConfig or raise mmtasks ValidationError."""
    return validated(GridConfig, raw, "strategy_config")


def parse_risk_config(raw: Mapping[str, object]) -> RiskConfig:
    """Return raw (JSON-like) as a RiskConfig or raise mmtasks ValidationError."""
    return validated(RiskConfig, raw, "risk_config")


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
        return fields_text(self)


def snapped_interval(config: GridConfig, rules: SymbolRules) -> Decimal:
    """Return the configured interval snapped to the tick size (never below one tick)."""
    return _snapped(config.interval, rules.tick_size)


# Value-keyed (the result depends on the two values only): every decision asks for it.
@lru_cache(maxsize=1024)
def _snapped(interval: Decimal, tick_size: Decimal) -> Decimal:
    return max(snap_nearest(interval, tick_size), tick_size)


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


@dataclass(frozen=True)
class TradingLimits:
    """Bounds a config must stay within to be accepted for trading (docs/strategy.md).

    The defaults suit a small desk; pass your own to `trading_config_errors` to change them.
    `price_range_factor` is the assumption behind the client-id proof: ids are proven to fit
    for every level the grid can quote while the price stays below price x this factor.
    """

    max_order_notional: Decimal = Decimal(100_000)  # quote per order, absolute
    max_equity_fraction: Decimal | None = Decimal("0.1")  # of equity per order, when known
    max_position_notional: Decimal = Decimal(1_000_000)  # quote: max_position x price
    max_open_orders: int = 2 * MAX_LEVELS + 10
    max_stale_after_s: int = 86_400
    max_average_window: int = 1_000
    max_volume_multiplier: Decimal = Decimal(1_000)
    max_atr_scale: Decimal = Decimal(100)
    max_inventory_skew: Decimal = Decimal(1)  # without max_position; with it, skew x max < 1
    price_range_factor: Decimal = Decimal(10)
    max_generation: int = MAX_GENERATION


DEFAULT_LIMITS = TradingLimits()


def _fmt(value: Decimal, tick: Decimal) -> str:
    # Bounds print on the tick, rounded toward the safe side (down), e.g. 100 / 11 -> 9.09.
    return canon(snap_down(value, tick)) if value >= tick else canon(value.normalize())


def _upper(field: str, value: Decimal | int, bound: Decimal | int, what: str = "") -> list[str]:
    if value <= bound:
        return []
    bound_text = canon(Decimal(bound))
    return [f"{field} must be <= {what}{bound_text}, received {canon(Decimal(value))}"]


def _rule_errors(config: GridConfig, rules: SymbolRules) -> list[str]:
    try:
        validate_config(config, rules)
    except ValidationError as exc:
        return [str(exc)]
    return []


def _size_errors(
    config: GridConfig,
    price: Decimal,
    rules: SymbolRules,
    equity: Decimal | None,
    limits: TradingLimits,
) -> list[str]:
    caps = [("max_order_notional", limits.max_order_notional)]
    if equity is not None and limits.max_equity_fraction is not None:
        caps.append(("equity x max_equity_fraction", equity * limits.max_equity_fraction))
    errors = []
    for name, cap in caps:
        if config.order_qty is not None and config.order_qty * price > cap:
            errors.append(
                f"order_qty must be <= {name} / price = {_fmt(cap / price, rules.step_size)} "
                f"at price {canon(price)} ({name} {canon(cap)}), "
                f"received {canon(config.order_qty)}"
            )
        if config.order_notional is not None:
            errors += _upper("order_notional", config.order_notional, cap, f"{name} = ")
    return errors


def _risk_errors(
    config: GridConfig, risk: RiskConfig, price: Decimal, rules: SymbolRules, limits: TradingLimits
) -> list[str]:
    errors = []
    if risk.max_position is not None:
        cap = limits.max_position_notional / price
        if risk.max_position > cap:
            errors.append(
                f"max_position must be <= max_position_notional / price = "
                f"{_fmt(cap, rules.step_size)} at price {canon(price)} "
                f"(max_position_notional {canon(limits.max_position_notional)}), "
                f"received {canon(risk.max_position)}"
            )
    if risk.max_open_orders is not None:
        errors += _upper("max_open_orders", risk.max_open_orders, limits.max_open_orders)
    errors += _upper("stale_after_s", risk.stale_after_s, limits.max_stale_after_s)
    errors += _upper("average_window", risk.average_window, limits.max_average_window)
    errors += _upper("volume_multiplier", risk.volume_multiplier, limits.max_volume_multiplier)
    errors += _upper("atr_scale", config.atr_scale, limits.max_atr_scale)
    for name in ("buy_levels", "sell_levels"):
        value = getattr(config, name)
        if not 1 <= value <= MAX_LEVELS:
            errors.append(f"{name} must be between 1 and {MAX_LEVELS}, received {value}")
    skew = config.inventory_skew
    if risk.max_position is not None and skew * risk.max_position >= 1:
        errors.append(
            f"inventory_skew must be < 1 / max_position = {canon(1 / risk.max_position)} "
            f"(else the skewed price can reach zero), received {canon(skew)}"
        )
    elif risk.max_position is None:
        errors += _upper("inventory_skew", skew, limits.max_inventory_skew, "max_inventory_skew = ")
    return errors


def max_reachable_level(
    config: GridConfig, risk: RiskConfig, rules: SymbolRules, price: Decimal, limits: TradingLimits
) -> Decimal:
    """Return the highest level the grid can quote while the price stays in the assumed range."""
    top = price * limits.price_range_factor
    if risk.max_position is not None and config.inventory_skew > 0:
        top *= 1 + config.inventory_skew * risk.max_position  # a short skews the centre up
    # Sells reach sell_levels + 1 intervals out; a closing order one more.
    return top + (max(config.buy_levels, config.sell_levels) + 2) * snapped_interval(config, rules)


def trading_config_errors(
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    price: Decimal,
    *,
    equity: Decimal | None = None,
    limits: TradingLimits = DEFAULT_LIMITS,
) -> list[str]:
    """Return why config cannot trade at price under rules and limits (empty when it can).

    Each message names the field, the bound and the value received, e.g. `interval must be
    <= price / (buy_levels + 1) = 9.09 at price 100, received 50`.
    """
    if not price.is_finite() or price <= 0:
        return [f"price must be > 0 to validate a config against, received {price}"]
    errors = _rule_errors(config, rules)
    bound = price / (config.buy_levels + 1)
    if snapped_interval(config, rules) > bound:
        errors.append(
            f"interval must be <= price / (buy_levels + 1) = {_fmt(bound, rules.tick_size)} "
            f"at price {canon(price)}, received {canon(config.interval)}"
        )
    errors += _size_errors(config, price, rules, equity, limits)
    errors += _risk_errors(config, risk, price, rules, limits)
    top = max_reachable_level(config, risk, rules, price, limits)
    length = max_client_id_length(top, rules.tick_size, limits.max_generation)
    if length > MAX_ID_LEN:
        errors.append(
            f"client order ids must be <= {MAX_ID_LEN} characters for every reachable level, "
            f"received up to {length} (levels up to {_fmt(top, rules.tick_size)}: price "
            f"{canon(price)} x price_range_factor {canon(limits.price_range_factor)} plus "
            f"the window, on tick {canon(rules.tick_size)})"
        )
    return errors


def validate_trading_config(
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    price: Decimal,
    *,
    equity: Decimal | None = None,
    limits: TradingLimits = DEFAULT_LIMITS,
) -> None:
    """Raise ValidationError (all reasons, '; '-joined) unless config can trade at price."""
    errors = trading_config_errors(config, risk, rules, price, equity=equity, limits=limits)
    if errors:
        raise ValidationError("; ".join(errors))
