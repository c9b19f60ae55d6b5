"""Scheduled fleet tasks: the inbox sweeper and the periodic reconcile."""

from __future__ import annotations

import logging
from typing import Any

from mmtasks.celery import app
from mmtasks.domain import queue_for
from mmtasks.enqueue import wake
from mmtasks.runtime import get_runtime
from mmtasks.state.keys import SYMBOLS, keys_for

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0
RECONCILE_EVERY_S = 300.0


def _symbols() -> list[str]:
    return sorted(
        s.decode() if isinstance(s, bytes) else s for s in get_runtime().redis.smembers(SYMBOLS)
    )


@app.task(name="mmtasks.beat.sweep_inboxes", ignore_result=True)
def sweep_inboxes() -> dict[str, Any]:
    """Wake every symbol whose inbox is ahead of its cursor and whose queue is empty."""
    r = get_runtime().redis
    symbols = _symbols()
    pipe = r.pipeline(transaction=False)
    for symbol in symbols:  # one round trip for the whole fleet
        k = keys_for(symbol)
        pipe.get(k.seq)
        pipe.hget(k.state, "last_seq")
        pipe.llen(queue_for(symbol))
    replies = pipe.execute()
    woken = []
    for i, symbol in enumerate(symbols):
        issued, cursor, depth = replies[3 * i : 3 * i + 3]
        if int(issued or 0) > int(cursor or 0) and depth == 0:
            wake(app, symbol)
            woken.append(symbol)
    if woken:
        log.warning("sweeper woke %s: inbox ahead of cursor with nothing queued", woken)
    return {"woken": woken}


@app.task(name="mmtasks.beat.reconcile_all", ignore_result=True)
def reconcile_all() -> dict[str, Any]:
    """Enqueue a reconcile on every symbol's own queue."""
    symbols = _symbols()
    for symbol in symbols:
        app.send_task(
            "mmtasks.symbol.reconcile", args=[symbol, "schedule"], queue=queue_for(symbol)
        )
    return {"reconciled": symbols}


app.conf.beat_schedule = {
    "sweep-inboxes": {"task": "mmtasks.beat.sweep_inboxes", "schedule": SWEEP_EVERY_S},
    "reconcile-all": {"task": "mmtasks.beat.reconcile_all", "schedule": RECONCILE_EVERY_S},
}
