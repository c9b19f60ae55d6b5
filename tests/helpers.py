"""Kept for the imports of other test folders: `eventually` lives in tests/kit/poll.py."""

from __future__ import annotations

from tests.kit.poll import eventually

__all__ = ["eventually"]
