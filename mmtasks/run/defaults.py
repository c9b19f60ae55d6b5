"""What the runner's parts share: where it keeps its data, its defaults, the extra symbols."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DATA_DIR = Path(".data/run")
DEFAULT_CONFIG = Path("configs/symbols.yaml")
STATUS_EVERY_S = 2.0
STOP_GRACE_S = 15.0
# A child that exits is started again, unless it did so more often than this in a minute.
RESTARTS_PER_MINUTE = 3
DEFAULT_WEB_PORT = 8000
TABLE_ROWS = 30  # symbols the terminal table shows; the dashboard shows every one
MAX_SYMBOLS = 999  # `--symbols N` generates simulated symbols up to this many
CELERY = (sys.executable, "-m", "celery", "-A", "mmtasks")
WORKING_STATUSES = ("ACTIVE", "PAUSED", "ERROR")  # ERROR still drains fills and recovers
# Extra simulated symbols for `--symbols N` beyond the config's: generic sim rules (tick 0.01,
# step 0.001, start price 100) and a small neutral grid that fits them.
EXTRA_BASES = (
    "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC", "TRX", "ATOM", "NEAR",
    "UNI", "ETC", "FIL", "APT", "ARB", "OP", "INJ", "SUI", "SEI", "TIA", "AAVE", "MKR",
)  # fmt: skip
EXTRA_ENTRY: dict[str, Any] = {
    "exchange": "sim",
    "strategy": {
        "mode": "neutral",
        "interval": "0.2",
        "buy_levels": 4,
        "sell_levels": 4,
        "order_notional": "10",
    },
    "risk": {"max_position": "1", "max_open_orders": 10, "stale_after_s": 30},
}
