"""How a stored config's order size reads in one line (every kind has one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def size_text(raw: Mapping[str, Any]) -> str:
    """Return `qty Q` or `notional N` of a stored config."""
    if raw.get("order_qty") is not None:
        return f"qty {raw['order_qty']}"
    return f"notional {raw.get('order_notional')}"
