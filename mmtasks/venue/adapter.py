"""The one translation between venue types and the grid core's own types.

The grid core (`mmtasks.grid`) never imports the venue: what it needs of a venue's answer is
built here, so a new venue changes nothing in the core.
"""

from __future__ import annotations

from mmtasks.grid import models as core
from mmtasks.venue.types import SymbolRules


def grid_rules(rules: SymbolRules) -> core.SymbolRules:
    """Return the filters the grid sizes and snaps orders with, from a venue's symbol rules."""
    return core.SymbolRules(
        tick_size=rules.tick_size,
        step_size=rules.step_size,
        min_qty=rules.min_qty,
        min_notional=rules.min_notional,
    )
