"""How events enter a symbol: append to its inbox, then wake its queue.

The inbox append (with its seq) happens before the task is sent, so a lost or duplicated
task message never loses or doubles an event: any later step drains everything after the
cursor. Prices are conflated: only the newest tick is kept and at most one price task waits.
"""

from __future__ import annotations

from celery import Celery

from mmtasks.domain import queue_for

TASK_FOR_KIND = {
    "order": "mmtasks.symbol.on_order",
    "candle": "mmtasks.symbol.on_candle",
    "command": "mmtasks.symbol.on_command",
}
PRICE_TASK = "mmtasks.symbol.on_price"
PRICE_PENDING_TTL_S = 60  # a lost price task frees the flag after this, so prices resume


def wake(
    app: Celery, symbol: str, task: str = "mmtasks.symbol.drain", countdown_s: float = 0
) -> None:
    """Send a task naming symbol to the symbol's own queue (run countdown_s later, if given)."""
    app.send_task(
        task,
        args=[symbol],
        queue=queue_for(symbol),
        countdown=countdown_s or None,
        ignore_result=True,
    )
