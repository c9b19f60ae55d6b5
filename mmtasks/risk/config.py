"""The fleet's risk limits (`fleet_risk.config`), validated like every config: strict, exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from mmtasks.decimals import canon, parse_decimal
from mmtasks.errors import ValidationError, explain

DECIMAL_LIMITS = (
    "max_exposure_quote",
    "max_symbol_exposure_quote",
    "max_drawdown_quote",
    "max_drawdown_pct",
    "capital_quote",
    "daily_loss_limit_quote",
)


class FleetRiskConfig(BaseModel):
    """Fleet-wide limits; a limit left at None is not checked. All amounts in the quote asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # REDUCING when over: sum over symbols of |position| x mark, and the largest single one.
    max_exposure_quote: Decimal | None = None
    max_symbol_exposure_quote: Decimal | None = None
    # HALTED when over: equity (realized - fees + unrealized) below its high-water mark, in
    # quote or in percent of capital_quote + high-water mark; the UTC day's loss.
    max_drawdown_quote: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    capital_quote: Decimal | None = None
    daily_loss_limit_quote: Decimal | None = None
    # REDUCING when over: p95 of connector round trips (probes and order calls) in the window.
    max_connector_latency_ms: int | None = None
    latency_window_s: int = 30
    # Hysteresis: a computed REDUCING clears only once every figure is under this percent of
    # its limit (HALTED never clears by itself: only an operator's resume leaves it).
    clear_at_pct: Decimal = Decimal(80)

    @field_validator(*DECIMAL_LIMITS, "clear_at_pct", mode="before")
    @classmethod
    def _decimals(cls, value: object, info: ValidationInfo) -> Decimal | None:
        field = info.field_name or "value"
        if value is None:
            if field == "clear_at_pct":
                raise ValidationError("clear_at_pct must be a decimal string, received None")
            return None
        number = parse_decimal(value, field)
        if number <= 0:
            raise ValidationError(f"{field} must be > 0, received {canon(number)}")
        if field in ("max_drawdown_pct", "clear_at_pct") and number > 100:
            raise ValidationError(f"{field} must be <= 100, received {canon(number)}")
        return number

    @field_validator("max_connector_latency_ms", "latency_window_s", mode="before")
    @classmethod
    def _ints(cls, value: object, info: ValidationInfo) -> int | None:
        field = info.field_name or "value"
        if value is None and field == "max_connector_latency_ms":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{field} must be an integer, received {value!r}")
        if not 1 <= value <= 3_600_000:
            raise ValidationError(f"{field} must be between 1 and 3600000, received {value}")
        return value

    @model_validator(mode="after")
    def _capital_for_pct(self) -> FleetRiskConfig:
        if self.max_drawdown_pct is not None and self.capital_quote is None:
            raise ValidationError(
                "max_drawdown_pct needs capital_quote (the account value PnL adds to), "
                "received max_drawdown_pct alone"
            )
        return self

    def limits(self) -> dict[str, str | None]:
        """Return the limits as JSON-ready strings (None where unset)."""
        out: dict[str, str | None] = {}
        for name, value in self.model_dump().items():
            out[name] = (
                None
                if value is None
                else canon(value)
                if isinstance(value, Decimal)
                else str(value)
            )
        return out


def parse_fleet_risk(data: dict[str, Any]) -> FleetRiskConfig:
    """Return data as a FleetRiskConfig, or raise ValidationError naming every bad field."""
    try:
        return FleetRiskConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(explain(exc, "fleet risk", _phrase)) from None


def _phrase(field: str, error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        known = ", ".join(FleetRiskConfig.model_fields)
        return f"{field} is not a fleet risk setting (known: {known})"
    return f"{field}: {error['msg']}, received {error.get('input')!r}"


def merged(current: FleetRiskConfig, changes: dict[str, Any]) -> FleetRiskConfig:
    """Return current with changes applied (a None value removes that limit), validated."""
    data = {k: v for k, v in current.model_dump(mode="json").items() if v is not None}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
            if key not in FleetRiskConfig.model_fields:
                data[key] = None  # let validation name the unknown field
        else:
            data[key] = value
    return parse_fleet_risk(data)
