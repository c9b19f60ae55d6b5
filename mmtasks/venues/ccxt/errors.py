"""The one table from ccxt's exceptions and the venue's error codes to mmtasks's error classes.

The worker's whole error policy hangs on this mapping (`mmtasks.errors`):

- refused as it stands (post-only would take, reduce-only refused, a filter failed, not enough
  balance or margin: InvalidOrder, InsufficientFunds, BadRequest, or one of REFUSED_CODES)
  -> a REJECTED order carrying the venue's code and words (`Refused`);
- the client id is already in use (DuplicateOrderId, -4116, "Duplicate order sent.")
  -> the existing order, looked up, with duplicate=True (`Duplicate`);
- no such order (OrderNotFound) -> OrderNotFoundError;
- rate limit or ban (DDoSProtection, RateLimitExceeded: 429 / 418, -1003, -1015)
  -> RateLimitedError, a TemporaryError, with the venue's Retry-After;
- timeout, 5xx, connection lost (RequestTimeout, ExchangeNotAvailable, OperationFailed)
  -> AmbiguousOutcomeError when the call changes an order (resolved by the client id, never
  sent again), TemporaryError on a read;
- clock skew (-1021, InvalidNonce) -> TemporaryError;
- bad key, signature or permissions (AuthenticationError) -> `BadKeysError`, an
  OperationalError: the symbol stops trading loudly, no retry storm;
- an unknown symbol (BadSymbol) -> UnknownSymbolError;
- anything else (ExchangeError) -> TemporaryError on reads, a REJECTED order on creates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import ccxt

from mmtasks.errors import (
    AmbiguousOutcomeError,
    MMError,
    OrderNotFoundError,
    RateLimitedError,
    TemporaryError,
    UnknownSymbolError,
    VenueAuthError,
)

# Codes that mean "the order was refused as it stands" (Binance USDⓈ-M and spot).
REFUSED_CODES = {
    -1013,  # filter failure (spot)
    -1111,  # precision over the maximum
    -2010,  # new order rejected (spot: balance, LIMIT_MAKER would take)
    -2019,  # margin is insufficient
    -2022,  # reduce-only refused
    -4003,
    -4004,
    -4005,  # quantity out of range
    -4014,  # price not on the tick
    -4164,  # notional under the minimum
    -5021,
    -5022,  # FOK / post-only (GTX) would not rest
}
DUPLICATE_CODES = {-4116}
DUPLICATE_WORDS = ("Duplicate order sent.", "ClientOrderId is duplicated.")
BODY_RE = re.compile(r"\{.*\}", re.S)


class BadKeysError(VenueAuthError):
    """The venue refused the API key, its signature or its permissions: nothing will work."""


@dataclass(frozen=True)
class VenueAnswer:
    """The venue's own code and words, read from a ccxt exception (0, '' when it had none)."""

    code: int
    msg: str

    def __str__(self) -> str:
        return f"{self.code} {self.msg}" if self.code else self.msg


def venue_answer(exc: Exception) -> VenueAnswer:
    """Return the Binance-style `{"code", "msg"}` ccxt put in the exception's text."""
    text = str(exc)
    match = BODY_RE.search(text)
    if match is not None:
        try:
            body = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and "code" in body:
            try:
                return VenueAnswer(int(body["code"]), str(body.get("msg", "")))
            except (TypeError, ValueError):
                pass
    # ccxt words an error matched by the venue's message as "<exchange id> <message>".
    first, _, rest = text.partition(" ")
    if rest and first.isalnum() and first.islower():
        text = rest
    return VenueAnswer(0, text[:300])


class Refused(Exception):
    """A create the venue refused as it stands: record a REJECTED order with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Duplicate(Exception):
    """A create whose client id the venue already holds: look the order up."""


def classify(
    exc: Exception, *, changes: bool, creates: bool = False, retry_after_s: float = 0
) -> Exception:
    """Return the mmtasks error (or Refused / Duplicate for creates) of a ccxt exception.

    changes: the call changes state at the venue (create, cancel): a lost answer is ambiguous.
    creates: the call places an order: refusals and duplicates have their own outcome.
    """
    if isinstance(exc, MMError):
        return exc
    answer = venue_answer(exc)
    if creates and (
        isinstance(exc, ccxt.DuplicateOrderId)
        or answer.code in DUPLICATE_CODES
        or answer.msg in DUPLICATE_WORDS
    ):
        return Duplicate(str(answer))
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded) or answer.code in (
        -1003,
        -1015,
    ):
        return RateLimitedError(f"venue rate limit: {answer}", retry_after_s)
    if isinstance(exc, ccxt.AuthenticationError):
        return BadKeysError(
            f"the venue refused the API key ({answer}): check MMTASKS_VENUE_API_KEY and "
            "MMTASKS_VENUE_API_SECRET, the key's permissions (futures trading) and IP whitelist"
        )
    if isinstance(exc, ccxt.InvalidNonce):
        return TemporaryError(f"the venue's clock and ours differ ({answer}): retried")
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbolError(f"the venue does not list this symbol ({answer})")
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFoundError(f"the venue does not know the order ({answer})")
    if creates and (
        isinstance(exc, ccxt.InvalidOrder | ccxt.InsufficientFunds | ccxt.BadRequest)
        or answer.code in REFUSED_CODES
    ):
        return Refused(str(answer))
    if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed):
        if changes:
            return AmbiguousOutcomeError(
                f"the venue's answer was lost ({type(exc).__name__}: {answer}): "
                "the order is looked up by its client id, never sent again"
            )
        return TemporaryError(f"the venue did not answer ({type(exc).__name__}: {answer})")
    if creates:
        return Refused(str(answer))
    return TemporaryError(f"the venue answered an error ({type(exc).__name__}: {answer})")
