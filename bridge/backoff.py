"""Capped exponential backoff with full jitter, for reconnecting to the connector."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of successive failed attempts: random in [base/2, min(cap, base * 2**n)]."""

    base_s: float = 0.2
    cap_s: float = 10.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay_s(self) -> float:
        """Return the pause before the next attempt and count this failure."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempts))
        self.attempts = min(self.attempts + 1, 32)  # 2**32 * base is far past any cap
        # Jitter spreads reconnects of many clients; the floor keeps a dead server from a spin.
        return self.rng.uniform(min(self.base_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        """Forget past failures (after a connection that held)."""
        self.attempts = 0
