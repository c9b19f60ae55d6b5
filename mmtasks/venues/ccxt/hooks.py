"""ccxt.pro's exchange class with our hooks: raw stream messages, REST answers, connects and
the rate limiter's cost handed to the venue (a subclass, never a patch)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import ccxt.pro

from mmtasks.errors import (
    ValidationError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cost:
    """What ccxt's rate-limiter cost becomes here: the call itself, so its weight is known."""

    api: Any
    method: str
    path: str
    params: dict[str, Any]
    ccxt_cost: Any


class Hooks:
    """What the hooked exchange hands to its venue: raw stream messages and REST answers."""

    def __init__(self) -> None:
        self.on_order: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_trade: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_kline: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_response: Callable[[int, dict[str, str]], None] = lambda c, h: None
        self.on_connected: Callable[[str], None] = lambda url: None
        self.throttle: Callable[[Any], Coroutine[Any, Any, Any]] | None = None


def hooked_class(exchange_id: str) -> type[Any]:
    """Return ccxt.pro's class of exchange_id with our hooks on its message handlers.

    A subclass, not a patch: each override hands the venue's raw message to the venue, then
    lets ccxt handle it as it always does.
    """
    base = getattr(ccxt.pro, exchange_id, None)
    if base is None:
        raise ValidationError(f"--venue {exchange_id!r} is not a ccxt exchange id")

    def guarded(name: str) -> Callable[..., Any]:
        def handler(self: Any, client: Any, message: Any) -> Any:
            try:
                getattr(self.mm_hooks, name)(message)
            except Exception:  # a hook never breaks ccxt's own handling
                log.exception("venue hook %s failed", name)
            return getattr(base, HANDLERS[name])(self, client, message)

        return handler

    def on_rest_response(
        self: Any,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        headers: Any,
        body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        with contextlib.suppress(Exception):
            self.mm_hooks.on_response(int(code or 0), dict(headers or {}))
        return base.on_rest_response(
            self, code, reason, url, method, headers, body, request_headers, request_body
        )

    def on_connected(self: Any, client: Any, message: Any = None) -> Any:
        with contextlib.suppress(Exception):
            self.mm_hooks.on_connected(str(getattr(client, "url", "")))
        return base.on_connected(self, client, message)

    def calculate_rate_limiter_cost(
        self: Any, api: Any, method: Any, path: Any, params: Any, config: Any = None
    ) -> Any:
        cost = base.calculate_rate_limiter_cost(self, api, method, path, params, config or {})
        return Cost(api, str(method), str(path), dict(params or {}), cost)

    async def throttle(self: Any, cost: Any = None) -> Any:
        hook = self.mm_hooks.throttle
        if hook is not None and isinstance(cost, Cost):
            return await hook(cost)
        return await base.throttle(self, cost.ccxt_cost if isinstance(cost, Cost) else cost)

    members: dict[str, Any] = {HANDLERS[name]: guarded(name) for name in HANDLERS}
    members["on_rest_response"] = on_rest_response
    members["on_connected"] = on_connected
    members["calculate_rate_limiter_cost"] = calculate_rate_limiter_cost
    members["throttle"] = throttle
    members["mm_hooks"] = Hooks()
    return type(f"MM{base.__name__}", (base,), members)


HANDLERS = {
    "on_order": "handle_order_update",
    "on_trade": "handle_trade",
    "on_kline": "handle_ohlcv",
}
