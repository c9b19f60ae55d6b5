"""The rule language: `<operand> <operator> <operand>` conditions, parsed once, evaluated per row.

An operand is a price field (`open`, `high`, `low`, `close`, `volume`), an indicator declared in
the config (`ema_9`, `rsi_14`, `atr_14`, `bb_20_2.upper`, `macd_12_26_9.signal`), a number
(`70`, `-0.5`), or, in signal rules only, `regime` compared with `==` / `!=` to `trend_up`,
`trend_down` or `range`. Operators: `<`, `<=`, `>`, `>=`, `crosses_above`, `crosses_below`
(true on the row where the left side moves from at or below the right side to above it, or the
mirror; they need the previous row). A condition whose values are not known yet (an indicator
still warming up) is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, TypeAlias, cast

from mmtasks.decimals import canon
from mmtasks.errors import ValidationError

Row: TypeAlias = Mapping[str, Decimal | None]
Operator = Literal["<", "<=", ">", ">=", "crosses_above", "crosses_below", "==", "!="]
COMPARISONS: tuple[str, ...] = ("<", "<=", ">", ">=")
CROSSES: tuple[str, ...] = ("crosses_above", "crosses_below")
OPERATORS: tuple[str, ...] = (*COMPARISONS, *CROSSES, "==", "!=")
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
REGIMES: tuple[str, ...] = ("trend_up", "trend_down", "range")
REGIME = "regime"


@dataclass(frozen=True)
class Operand:
    """A value name (looked up in the row) or a constant."""

    name: str | None = None
    constant: Decimal | None = None

    def value(self, row: Row) -> Decimal | None:
        """Return the operand's value on row (None while unknown)."""
        return self.constant if self.name is None else row.get(self.name)

    def __str__(self) -> str:
        return self.name if self.name is not None else canon(self.constant or Decimal(0))


@dataclass(frozen=True)
class Condition:
    """One parsed condition; `text` is how the config wrote it."""

    left: Operand
    op: Operator
    right: Operand
    text: str

    @property
    def is_trigger(self) -> bool:
        """Return True for crossings: the event a rule waits for (the rest are filters)."""
        return self.op in CROSSES

    def names(self) -> set[str]:
        """Return the row keys the condition reads."""
        return {o.name for o in (self.left, self.right) if o.name is not None}


def _operand(token: str, known: set[str], where: str, text: str) -> Operand:
    if token in known or token in PRICE_FIELDS or token == REGIME or token in REGIMES:
        return Operand(name=token)
    try:
        number = Decimal(token)
    except InvalidOperation:
        number = None
    if number is not None and number.is_finite():
        return Operand(constant=number)
    declared = ", ".join(sorted(known)) or "none"
    raise ValidationError(
        f"{where} {text!r}: unknown operand {token!r}; expected a number, a price field "
        f"({', '.join(PRICE_FIELDS)}) or a declared indicator value ({declared})"
    )


def parse_condition(
    text: object, known: set[str], where: str, *, allow_regime: bool = True
) -> Condition:
    """Return text (`ema_9 crosses_above ema_21`) parsed, or raise ValidationError naming it."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be a condition string, received {text!r}")
    tokens = text.split()
    if len(tokens) != 3:
        raise ValidationError(
            f"{where} {text!r}: a condition is '<operand> <operator> <operand>' "
            f"(3 tokens), received {len(tokens)}"
        )
    left_text, op, right_text = tokens
    if op not in OPERATORS:
        raise ValidationError(
            f"{where} {text!r}: unknown operator {op!r}; expected one of {', '.join(OPERATORS)}"
        )
    left = _operand(left_text, known, where, text)
    right = _operand(right_text, known, where, text)
    _check_regime_use(left, op, right, where, text, allow_regime)
    return Condition(left, cast(Operator, op), right, text)


def _check_regime_use(
    left: Operand, op: str, right: Operand, where: str, text: str, allow_regime: bool
) -> None:
    regime_sides = [o.name for o in (left, right) if o.name == REGIME]
    value_sides = [o.name for o in (left, right) if o.name in REGIMES]
    if regime_sides or value_sides:
        if not allow_regime:
            raise ValidationError(f"{where} {text!r}: regime rules cannot use the regime itself")
        if left.name != REGIME or right.name not in REGIMES or op not in ("==", "!="):
            raise ValidationError(
                f"{where} {text!r}: the regime is compared as 'regime == <name>' or "
                f"'regime != <name>' with <name> one of {', '.join(REGIMES)}"
            )
    elif op in ("==", "!="):
        raise ValidationError(
            f"{where} {text!r}: operator {op!r} is for the regime only; use <, <=, > or >="
        )


def parse_conditions(
    raw: object, known: set[str], where: str, *, allow_regime: bool = True
) -> tuple[Condition, ...]:
    """Return a list of condition strings parsed (a rule: all of them must hold)."""
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationError(f"{where} must be a non-empty list of conditions, received {raw!r}")
    return tuple(
        parse_condition(item, known, f"{where}[{i}]", allow_regime=allow_regime)
        for i, item in enumerate(raw)
    )


def _value(operand: Operand, row: Row, regime: str) -> Decimal | str | None:
    if operand.name == REGIME:
        return regime
    if operand.name in REGIMES:
        return operand.name
    return operand.value(row)


def holds(cond: Condition, row: Row, prev: Row | None, regime: str = "range") -> bool:
    """Return True when cond holds on row (crossings compare with prev)."""
    left, right = _value(cond.left, row, regime), _value(cond.right, row, regime)
    if left is None or right is None:
        return False
    if isinstance(left, str) or isinstance(right, str):
        return (left == right) == (cond.op == "==")
    if cond.op in CROSSES:
        if prev is None:
            return False
        before_l, before_r = cond.left.value(prev), cond.right.value(prev)
        if before_l is None or before_r is None:
            return False
        if cond.op == "crosses_above":
            return before_l <= before_r and left > right
        return before_l >= before_r and left < right
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[cond.op]


def describe(cond: Condition, row: Row, regime: str = "range") -> str:
    """Return the condition with its current values, for a rejection reason."""
    parts = []
    for operand in (cond.left, cond.right):
        if operand.name is None or operand.name in REGIMES:
            continue
        value = _value(operand, row, regime)
        text = value if isinstance(value, str) else ("unknown" if value is None else canon(value))
        parts.append(f"{operand.name} = {text}")
    return f"{cond.text} is false ({', '.join(parts)})" if parts else f"{cond.text} is false"
