"""Binance's request signing, checked as Binance checks it.

A SIGNED request carries the key in `X-MBX-APIKEY`, a `timestamp` (ms) and optionally a
`recvWindow` (default 5000, at most 60000), and a `signature`: HMAC-SHA256 with the key's
secret over the query string concatenated with the body, the signature parameter left out.
A request from more than 1 s ahead of the server, or older than its recvWindow, is refused
(-1021); a wrong signature is refused (-1022); an unknown key (-2015) before either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping

from mmtasks.sim.binance.errors import (
    AHEAD,
    BAD_KEY,
    BAD_KEY_FORMAT,
    BAD_SIGNATURE,
    OUTSIDE_WINDOW,
    BinanceError,
    bad_request,
    missing,
)

SIGNATURE_RE = re.compile(r"(^|&)signature=([^&]*)")
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
AHEAD_LIMIT_MS = 1_000


def sign(secret: str, payload: str) -> str:
    """Return Binance's HMAC-SHA256 signature (hex) of payload."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _without_signature(text: str) -> tuple[str, str | None]:
    match = SIGNATURE_RE.search(text)
    if match is None:
        return text, None
    rest = text[: match.start()] + text[match.end() :]
    if match.group(1) == "" and rest.startswith("&"):
        rest = rest[1:]
    return rest, match.group(2)


class Signer:
    """The accounts a simulator knows (API key -> secret) and the check of a signed request."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], int]) -> None:
        self.keys = dict(keys)
        self.clock = clock

    def api_key(self, headers: Mapping[str, str]) -> str:
        """Return the request's known API key; BinanceError when it has none or an unknown one."""
        key = headers.get("x-mbx-apikey", "")
        if not key:
            raise BinanceError(401, *BAD_KEY_FORMAT)
        if key not in self.keys:
            raise BinanceError(401, *BAD_KEY)
        return key

    def check(
        self, headers: Mapping[str, str], query: str, body: str, params: Mapping[str, str]
    ) -> str:
        """Check a SIGNED request; return its API key or raise the error Binance would answer."""
        key = self.api_key(headers)
        timestamp = params.get("timestamp", "")
        if not timestamp.isdigit():
            raise missing("timestamp")
        window_text = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
        try:
            window = float(window_text)
        except ValueError:
            raise missing("recvWindow") from None
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise bad_request(-1131, "recvWindow must be less than 60000")
        now, sent = self.clock(), int(timestamp)
        if sent >= now + AHEAD_LIMIT_MS:
            raise bad_request(*AHEAD)
        if now - sent > window:
            raise bad_request(*OUTSIDE_WINDOW)
        query_rest, in_query = _without_signature(query)
        body_rest, in_body = _without_signature(body)
        given = in_query or in_body
        if not given:
            raise missing("signature")
        expected = sign(self.keys[key], query_rest + body_rest)
        if not hmac.compare_digest(expected.lower(), given.lower()):
            raise bad_request(*BAD_SIGNATURE)
        return key
