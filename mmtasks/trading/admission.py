"""Which tasks a symbol's step takes: its own symbols only, a look again at a lock whose holder
may have died, and a word when beat is missing.

A task for a symbol that is not in the fleet must not create a single key for it; a worker
whose fleet set is gone (Redis restarted empty) asks beat's healer to rehydrate at once.
"""

from __future__ import annotations

import contextlib
import logging
import time

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.runtime import Runtime
from mmtasks.state.keys import BEAT_LOCK, DROPPED, REHYDRATE_ASKED, SYMBOLS, keys_for
from mmtasks.state.store import Taken

log = logging.getLogger(__name__)

DROP_LOG_EVERY_S = 10.0
BEAT_CHECK_EVERY_S = 30.0
_last_drop_log = 0.0
# Symbols found in the fleet, until when (monotonic): a busy symbol's steps skip the check for
# a moment. A symbol leaves the fleet through its inbox (remove_symbol), which its step applies
# whatever this says; only tasks for symbols never in the fleet must not create keys.
KNOWN_FOR_S = 2.0
_known: dict[str, float] = {}
_last_beat_check = 0.0


def well_formed(symbol: str) -> bool:
    try:
        parse_symbol(symbol)
    except ValidationError:
        return False
    return True


def in_fleet(rt: Runtime, symbol: str, trigger: str) -> bool:
    """Return True if symbol is one of the fleet's; count and drop the task otherwise.

    A task for a symbol that is not in the fleet must not create a single key for it. When
    the fleet's symbol set itself is gone (Redis restarted empty), ask beat's healer to
    rehydrate from the registry now instead of at its next round.
    """
    if not well_formed(symbol):
        _drop(rt, "malformed symbol", symbol, trigger)
        return False
    now = time.monotonic()
    if _known.get(symbol, 0.0) > now:
        return True
    pipe = rt.redis.pipeline(transaction=False)
    pipe.sismember(SYMBOLS, symbol)
    pipe.exists(keys_for(symbol).state)  # a removed symbol's worker still settles its orders
    member, has_state = pipe.execute()
    if member or has_state:
        _known[symbol] = now + KNOWN_FOR_S
        return True
    if rt.redis.set(REHYDRATE_ASKED, "1", nx=True, ex=5):
        from mmtasks.celery import CONTROL_QUEUE, app

        app.send_task("mmtasks.beat.heal_fleet", queue=CONTROL_QUEUE, ignore_result=True)
    _drop(rt, "unknown symbol", symbol, trigger)
    return False


def _drop(rt: Runtime, reason: str, symbol: str, trigger: str) -> None:
    global _last_drop_log  # noqa: PLW0603 - one rate limit per worker process
    count = rt.redis.hincrby(DROPPED, reason, 1)
    now = time.monotonic()
    if now - _last_drop_log >= DROP_LOG_EVERY_S:
        _last_drop_log = now
        log.warning(
            "dropped %s task for %s %r (%d dropped for this reason so far; logged at most "
            "every %.0fs)",
            trigger,
            reason,
            symbol[:40],
            count,
            DROP_LOG_EVERY_S,
        )


def check_beat(rt: Runtime) -> None:
    """Alert when no beat holds its lock (no risk, healing or sweeping runs); throttled."""
    global _last_beat_check  # noqa: PLW0603 - one throttle per worker process
    now = time.monotonic()
    if now - _last_beat_check < BEAT_CHECK_EVERY_S:
        return
    _last_beat_check = now
    with contextlib.suppress(Exception):  # an alert never fails a step that traded
        if not rt.redis.exists(BEAT_LOCK):
            from mmtasks.alerts import alert

            alert(
                rt.redis,
                "beat-down",
                "beat is not running",
                "No `celery -A mmtasks beat` holds mm:beat:lock: fleet risk, healing and the "
                "inbox sweeper are not scheduled. Start beat.",
                severity="failure",
                settings=rt.settings,
            )


# Looks again scheduled by this process, by (symbol, holder token): when each is due
# (monotonic). One per holder and process: a busy symbol's wakes do not multiply them, and a
# process that starts after a holder died schedules its own.
_rechecks: dict[tuple[str, str], float] = {}
RECHECKS_KEPT = 10_000


def recheck_in(symbol: str, taken: Taken) -> int:
    """Return in how many ms to look at a held lock again (0: a look is already due)."""
    now = time.monotonic()
    key = (symbol, taken.holder)
    if _rechecks.get(key, 0.0) > now:
        return 0
    if len(_rechecks) >= RECHECKS_KEPT:
        _rechecks.clear()
    _rechecks[key] = now + taken.left_ms / 1000
    return max(taken.left_ms, 1)
