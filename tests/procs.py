"""Kept for the imports of other test folders and bench/: the processes live in tests/kit."""

from __future__ import annotations

from tests.kit.feed import OrderPump
from tests.kit.procs import LOG_DIR, ROOT, Worker, connector, stop
from tests.kit.procs import log_file as _log_file

__all__ = ["LOG_DIR", "ROOT", "OrderPump", "Worker", "_log_file", "connector", "stop"]
