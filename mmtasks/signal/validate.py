"""The validation stage: may this signal be acted on now? A reason when not."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from mmtasks.decimals import canon
from mmtasks.grid.config import SymbolRules
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.state import Phase, SignalState

FleetState = Literal["ACTIVE", "REDUCING", "HALTED"]
ENTRIES: tuple[str, ...] = ("long", "short")


@dataclass(frozen=True)
class Context:
    """What the step knows besides the state and the config: venue rules, risk, fleet state."""

    rules: SymbolRules
    fleet_state: FleetState = "ACTIVE"
    max_position: Decimal | None = None  # base qty, absolute (risk_config.max_position)
    paused: bool = False


def rejection(
    signal: str, state: SignalState, config: SignalConfig, context: Context, qty: Decimal | None
) -> str | None:
    """Return why signal cannot be acted on (qty: the entry size, None under the minimums)."""
    if context.fleet_state == "HALTED":
        return "fleet HALTED: nothing is placed"
    if context.paused:
        return "symbol paused: no new decisions"
    if signal not in ENTRIES:
        if state.phase is Phase.EXITING:
            return "an exit order is already working"
        if state.phase is not Phase.OPEN:
            return f"no open position to exit (phase {state.phase.value})"
        return None
    if context.fleet_state == "REDUCING":
        return "fleet REDUCING: no new exposure"
    if state.phase is not Phase.FLAT:
        held = canon(state.position.qty)
        return f"not flat: phase {state.phase.value}, position {held}"
    since = state.bars_since_exit
    if since is not None and since < config.cooldown_bars:
        return f"cooldown: {since} of {config.cooldown_bars} bars since the last exit"
    if qty is None:
        rules = context.rules
        return (
            f"order size under the venue minimums (min_qty {canon(rules.min_qty)}, "
            f"min_notional {canon(rules.min_notional)}, step {canon(rules.step_size)})"
        )
    if context.max_position is not None and qty > context.max_position:
        return f"order qty {canon(qty)} would exceed max_position {canon(context.max_position)}"
    return None
