"""Exact money: parse decimal strings from the wire and print canonical ones back."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from mmtasks.errors import ValidationError

ZERO = Decimal(0)
MAX_DIGITS = 40


def parse_decimal(
    value: object, field: str, *, positive: bool = False, non_negative: bool = False
) -> Decimal:
    """Return value as a finite Decimal or raise ValidationError naming the field."""
    if isinstance(value, float):
        raise ValidationError(f"{field} must be a decimal string, received float {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        if not text or len(text) > MAX_DIGITS:
            raise ValidationError(f"{field} must be a decimal string, received {value!r}")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"{field} must be a decimal string, received {value!r}") from None
    else:
        raise ValidationError(f"{field} must be a decimal string, received {value!r}")
    if not d.is_finite():
        raise ValidationError(f"{field} must be finite, received {value!r}")
    if positive and d <= 0:
        raise ValidationError(f"{field} must be > 0, received {canon(d)}")
    if non_negative and d < 0:
        raise ValidationError(f"{field} must be >= 0, received {canon(d)}")
    return d


def canon(d: Decimal) -> str:
    """Return d as a canonical string: no exponent, no trailing zeros, '0' for zero."""
    # The text depends on the value only (1.0 and 1 give "1"), and equal values hash alike, so
    # a cache keyed by the value is exact. Grid levels and prices repeat on every decision.
    return _canon_finite(d) if d.is_finite() else _canon(d)


@lru_cache(maxsize=8192)
def _canon_finite(d: Decimal) -> str:
    return _canon(d)


def _canon(d: Decimal) -> str:
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def snap_down(value: Decimal, step: Decimal) -> Decimal:
    """Return value rounded down to a multiple of step (quantities)."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def snap_nearest(value: Decimal, step: Decimal) -> Decimal:
    """Return value rounded to the nearest multiple of step, halves up (prices)."""
    return (value / step).to_integral_value(rounding=ROUND_HALF_UP) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Return True when value is an exact multiple of step."""
    return (value % step) == 0
