"""Count refused messages per reason, and log each reason at most once per interval."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)


class RejectCounter:
    """Counts of bad messages: in process (totals) and pending for Redis (HINCRBY deltas)."""

    def __init__(
        self, log_interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.totals: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()
        self._quiet: Counter[str] = Counter()  # rejects not logged since the reason's last line
        self._logged_at: dict[str, float] = {}
        self._log_interval_s = log_interval_s
        self._clock = clock
        self._lock = threading.Lock()

    def count(self, stream: str, reason: str, detail: str) -> bool:
        """Count one bad message; return True when it was logged (rate limited per reason)."""
        with self._lock:
            self.totals[reason] += 1
            self._pending[reason] += 1
            now = self._clock()
            last = self._logged_at.get(reason)
            if last is not None and now - last < self._log_interval_s:
                self._quiet[reason] += 1
                return False
            self._logged_at[reason] = now
            quiet = self._quiet.pop(reason, 0)
        more = f" (+{quiet} more since the last report)" if quiet else ""
        log.warning("rejected %s message, %s: %s%s", stream, reason, detail, more)
        return True

    def take_pending(self) -> dict[str, int]:
        """Return and clear the counts not yet written to Redis."""
        with self._lock:
            pending, self._pending = dict(self._pending), Counter()
        return pending

    def restore_pending(self, pending: dict[str, int]) -> None:
        """Put back counts whose write failed, so they are written later."""
        with self._lock:
            self._pending.update(pending)
