"""The pure grid core: decisions and slot transitions, free of Celery, Redis, Postgres and gRPC.

`logic.decide` turns (state, market, config, risk, rules, now) into actions; `transitions`
applies intents, acks and order updates to the state. docs/strategy.md describes the strategy.
"""

from __future__ import annotations

from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.transitions import (
    adopt_order,
    apply_order_update,
    find_slot_by_client_id,
    mark_acked,
    mark_pending,
    mark_rejected,
    rebuild_inventory,
)

__all__ = [
    "adopt_order",
    "apply_order_update",
    "decide",
    "find_slot_by_client_id",
    "mark_acked",
    "mark_pending",
    "mark_rejected",
    "rebuild_inventory",
    "with_anchor",
]
