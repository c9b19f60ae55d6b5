"""How a ccxt venue is reached: which exchange, testnet or a base URL, and its keys.

Keys come from the environment (`MMTASKS_VENUE_API_KEY`, `MMTASKS_VENUE_API_SECRET`) or from
files (`..._FILE`, e.g. Docker or systemd secrets); they are never logged, and a config prints
them as `***`. `--base-url http://127.0.0.1:PORT` points every REST and websocket URL of the
exchange at another origin (the Binance-speaking simulator, a proxy), paths kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mmtasks.errors import ValidationError

KEY_ENV, SECRET_ENV = "MMTASKS_VENUE_API_KEY", "MMTASKS_VENUE_API_SECRET"
ORIGIN_RE = re.compile(r"^(https?|wss?)://[^/]+")


@dataclass(frozen=True)
class CcxtConfig:
    """One ccxt venue of the connector."""

    exchange_id: str
    symbols: tuple[str, ...] = ()
    testnet: bool = False
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    timeout_ms: int = 10_000
    options: Mapping[str, Any] = field(default_factory=dict)
    # The fleet-wide rate budget (docs/venue.md): in this Redis, under these limits ('' and
    # None: ccxt's own per-process throttle). ip names the IP this process's requests leave.
    budget_redis_url: str = ""
    budget_limits: Mapping[str, int | None] = field(default_factory=dict)
    budget_ip: str = "default"

    def __repr__(self) -> str:  # keys never reach a log line
        key = "***" if self.api_key else "none"
        return (
            f"CcxtConfig(exchange_id={self.exchange_id!r}, symbols={self.symbols!r}, "
            f"testnet={self.testnet}, base_url={self.base_url!r}, api_key={key})"
        )


def _from_env_or_file(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    path = env.get(f"{name}_FILE", "")
    if value and path:
        raise ValidationError(f"{name} and {name}_FILE are both set; set one")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ValidationError(f"{name}_FILE {path}: cannot read it ({exc.strerror})") from None
    return value.strip()


def keys_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Return (api key, secret) from the environment or the files it names ('' when unset)."""
    env = os.environ if env is None else env
    key, secret = _from_env_or_file(env, KEY_ENV), _from_env_or_file(env, SECRET_ENV)
    if bool(key) != bool(secret):
        missing = SECRET_ENV if key else KEY_ENV
        raise ValidationError(f"{missing} is not set: an API key needs its secret and back")
    return key, secret


def check_base_url(url: str) -> str:
    """Return url without a trailing slash; ValidationError unless it is http(s)://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValidationError(
            f"--base-url must be http(s)://HOST[:PORT] with no path, received {url!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def rebase_urls(urls: Any, base: str) -> Any:
    """Return a copy of ccxt's `urls['api']` with every origin replaced by base (paths kept).

    http(s) URLs take base as it is; ws(s) URLs take it with ws:// (or wss:// for https).
    """
    ws_base = ("wss://" if base.startswith("https://") else "ws://") + base.split("://", 1)[1]
    if isinstance(urls, dict):
        return {k: rebase_urls(v, base) for k, v in urls.items()}
    if isinstance(urls, str):
        match = ORIGIN_RE.match(urls)
        if match is None:
            return urls
        new = ws_base if match.group(1).startswith("ws") else base
        return new + urls[match.end() :]
    return urls
