"""Which workers consume which queue, asked in the background so no request waits for it.

Asking is a broadcast that waits for replies (about a second), so the answer is refreshed on a
thread every few seconds and requests read the newest one (None until the first reply round).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery

from mmtasks.registry.workers import consumers_by_queue

log = logging.getLogger(__name__)


class ConsumerWatch:
    """The newest queue -> consumers map, refreshed every every_s seconds on a daemon thread."""

    def __init__(self, app: Celery, every_s: float) -> None:
        self._app = app
        self._every_s = every_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.consumers: dict[str, list[str]] | None = None
        self.checked_ms: int | None = None
        self._thread = threading.Thread(target=self._run, name="consumer-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait_first(self, timeout_s: float) -> None:
        """Block until the first answer arrived (or timeout_s passed)."""
        self._ready.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.consumers = consumers_by_queue(self._app)
                self.checked_ms = int(time.time() * 1000)
            except Exception as exc:  # broker down: keep serving, say we do not know
                log.warning("cannot ask workers for their queues: %s", exc)
                self.consumers = None
            self._ready.set()
            self._stop.wait(self._every_s)
