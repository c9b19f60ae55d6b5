"""Named crash points so fault tests can kill a worker at an exact step.

`MMTASKS_CRASH_AT=after_intent` (or `after_send`) makes the worker SIGKILL itself and its
parent the first time it reaches that point. Unset in production: the check is one dict lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "MMTASKS_CRASH_AT"


def crash_point(name: str) -> None:
    """Kill this worker (and its pool parent) without cleanup if the tests asked for it here."""
    if os.environ.get(CRASH_ENV) != name:
        return
    from billiard.process import current_process

    # In a prefork child the pool parent would restart the child and carry on; a real crash
    # takes both. With --pool solo the parent is whoever started the worker: leave it alone.
    if current_process().name.startswith("ForkPoolWorker"):
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
