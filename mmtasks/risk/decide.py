"""The fleet state the figures call for: ACTIVE -> REDUCING -> HALTED, with hysteresis.

- A drawdown or day-loss limit over its limit -> HALTED. HALTED never clears by itself.
- Exposure (fleet or one symbol) or connector latency over its limit -> REDUCING; a computed
  REDUCING clears to ACTIVE only once every one of those figures is under `clear_at_pct` of
  its limit, so a figure hovering at the limit does not flap the fleet.
- A state an operator set (a manual halt) is never loosened by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mmtasks.decimals import canon
from mmtasks.domain import FleetState
from mmtasks.risk.config import FleetRiskConfig
from mmtasks.risk.figures import HUNDRED, FleetFigures


@dataclass(frozen=True)
class Breach:
    """One figure over (or, for hysteresis, not yet under) its limit."""

    limit: str
    figure: str
    threshold: str
    state: FleetState

    def describe(self) -> str:
        """Return e.g. `max_exposure_quote: 1200 > 1000`."""
        return f"{self.limit}: {self.figure} > {self.threshold}"


def _checks(
    f: FleetFigures, c: FleetRiskConfig
) -> list[tuple[str, Decimal | None, Decimal | None, FleetState]]:
    latency = None if f.latency_p95_ms is None else Decimal(f.latency_p95_ms)
    max_latency = (
        None if c.max_connector_latency_ms is None else Decimal(c.max_connector_latency_ms)
    )
    return [
        ("max_drawdown_quote", f.drawdown_quote, c.max_drawdown_quote, FleetState.HALTED),
        ("max_drawdown_pct", f.drawdown_pct, c.max_drawdown_pct, FleetState.HALTED),
        ("daily_loss_limit_quote", f.day_loss, c.daily_loss_limit_quote, FleetState.HALTED),
        ("max_exposure_quote", f.exposure, c.max_exposure_quote, FleetState.REDUCING),
        (
            "max_symbol_exposure_quote",
            f.top_symbol_exposure,
            c.max_symbol_exposure_quote,
            FleetState.REDUCING,
        ),
        ("max_connector_latency_ms", latency, max_latency, FleetState.REDUCING),
    ]


def breaches(f: FleetFigures, c: FleetRiskConfig, *, clearing: bool = False) -> list[Breach]:
    """Return every figure over its limit (with clearing: over the limit's clear level)."""
    out = []
    for name, figure, limit, state in _checks(f, c):
        if figure is None or limit is None:
            continue
        threshold = limit * c.clear_at_pct / HUNDRED if clearing else limit
        if figure > threshold:
            out.append(Breach(name, canon(figure), canon(threshold), state))
    return out


@dataclass(frozen=True)
class FleetDecision:
    """The state to be in, and the breaches that call for it (empty for ACTIVE)."""

    state: FleetState
    breaches: tuple[Breach, ...]

    @property
    def reason(self) -> str:
        """Return the breaches as one line, or why the fleet is ACTIVE."""
        return "; ".join(b.describe() for b in self.breaches) or "every figure within its limits"


def decide_fleet_state(
    current: FleetState, set_by_operator: bool, f: FleetFigures, c: FleetRiskConfig
) -> FleetDecision:
    """Return the fleet state figures f call for under c, starting from current."""
    over = breaches(f, c)
    halting = tuple(b for b in over if b.state is FleetState.HALTED)
    if current is FleetState.HALTED:
        return FleetDecision(FleetState.HALTED, halting)
    if halting:
        return FleetDecision(FleetState.HALTED, halting)
    reducing = tuple(b for b in over if b.state is FleetState.REDUCING)
    if reducing:
        return FleetDecision(FleetState.REDUCING, reducing)
    if current is FleetState.REDUCING:
        if set_by_operator:
            return FleetDecision(FleetState.REDUCING, ())
        held = tuple(b for b in breaches(f, c, clearing=True) if b.state is FleetState.REDUCING)
        if held:
            return FleetDecision(FleetState.REDUCING, held)
    return FleetDecision(FleetState.ACTIVE, ())
