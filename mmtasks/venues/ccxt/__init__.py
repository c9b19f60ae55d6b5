"""Exchanges through ccxt: Binance USDⓈ-M perpetuals (`binanceusdm`) and spot (`binance`)."""

from __future__ import annotations

from mmtasks.venues.ccxt.config import CcxtConfig, keys_from_env
from mmtasks.venues.ccxt.venue import CcxtVenue

__all__ = ["CcxtConfig", "CcxtVenue", "keys_from_env"]
