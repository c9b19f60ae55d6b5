"""The Binance-speaking simulator's test-bed control, shaped like the sim's SimControl client."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from mmtasks.venue.types import PriceTick


class BinanceSimControl:
    """Move the simulator's prices and schedule its faults over its `/_sim/` endpoints."""

    def __init__(self, base_url: str, market: str = "usdm") -> None:
        self.base_url = base_url
        self.market = market
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def inject_price(self, symbol: str, price: Any, volume: Any = "") -> PriceTick:
        body: dict[str, Any] = {"symbol": symbol, "price": str(price), "market": self.market}
        if volume != "":
            body["volume"] = str(volume)
        answer = self._http.post("/_sim/price", json=body)
        answer.raise_for_status()
        data = answer.json()
        return PriceTick(data["symbol"], Decimal(data["price"]), int(data["ts"]), int(data["seq"]))

    def faults(self, **faults: Any) -> None:
        self._http.post("/_sim/faults", json=faults).raise_for_status()

    def drop_user_streams(self, hold_s: float = 0.0) -> int:
        """Close every user socket; with hold_s, new ones connect only after that long."""
        answer = self._http.post("/_sim/drop-user-streams", json={"hold_s": hold_s})
        return int(answer.json()["dropped"])

    def ban(self, seconds: float) -> None:
        self._http.post("/_sim/ban", json={"seconds": seconds}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._http.get("/_sim/stats").json()
        return answer

    def close(self) -> None:
        self._http.close()
