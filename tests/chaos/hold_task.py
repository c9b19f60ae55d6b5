"""A test-only task that holds a worker thread, so messages are in flight when the broker goes.

Workers import it with `--include tests.chaos.hold_task` (tests/kit/procs.py `Worker(include=)`).
"""

from __future__ import annotations

import time
from pathlib import Path

from mmtasks.celery import app

HOLD_TASK = "tests.chaos.hold"


@app.task(name=HOLD_TASK, ignore_result=True, acks_late=True, max_retries=0)
def hold(seconds: float, done_path: str, token: str) -> None:
    """Sleep seconds (acknowledged late, like a symbol's step), then append token to done_path."""
    time.sleep(seconds)
    with Path(done_path).open("a") as done:
        done.write(f"{token}\n")
