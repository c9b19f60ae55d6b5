"""Helpers of the simulated-exchange tests."""

from __future__ import annotations

START_MS = 1_700_000_040_000  # a minute boundary, so candle windows are easy to read


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        """Move time forward by ms."""
        self.now_ms += ms
