"""The one mapping between mmtasks errors and gRPC status codes, both directions.

Server: an exception becomes a status code and message (`status_for`). Client: a status code
becomes the mmtasks error whose response policy fits (`error_for`).
"""

from __future__ import annotations

import re

import grpc

from mmtasks.errors import (
    AmbiguousOutcomeError,
    InjectedFaultError,
    MMError,
    OperationalError,
    OrderNotFoundError,
    OrderNotOpenError,
    OrderRejectedError,
    OrderStillSending,
    RateLimitedError,
    TemporaryError,
    ValidationError,
    VenueAuthError,
)

Code = grpc.StatusCode
RETRY_AFTER_RE = re.compile(r"\(retry after ([0-9.]+)s\)")


# The code a server answers for each error class, the first that matches (OrderNotOpenError is
# an OrderNotFoundError, so it comes first).
STATUS_OF: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (VenueAuthError, Code.PERMISSION_DENIED),
    (OrderNotOpenError, Code.FAILED_PRECONDITION),
    (OrderNotFoundError, Code.NOT_FOUND),
    (ValidationError, Code.INVALID_ARGUMENT),
    (OrderRejectedError, Code.FAILED_PRECONDITION),
    (TemporaryError, Code.UNAVAILABLE),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Return the status code and message a server answers for an exception."""
    if isinstance(exc, InjectedFaultError):
        return Code[exc.code], str(exc)
    if isinstance(exc, RateLimitedError):
        wait = f" (retry after {exc.retry_after_s:g}s)" if exc.retry_after_s > 0 else ""
        return Code.RESOURCE_EXHAUSTED, f"{exc}{wait}"
    for kind, code in STATUS_OF:
        if isinstance(exc, kind):
            return code, str(exc)
    return Code.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


# Calls that change state on the exchange: for them a lost answer leaves the outcome unknown.
MUTATING = frozenset(
    {"PlaceOrder", "BatchPlaceOrders", "CancelOrder", "BatchCancelOrders", "CancelAllOrders"}
)
CANCELS = frozenset({"CancelOrder", "BatchCancelOrders", "CancelAllOrders"})


def error_for(code: grpc.StatusCode, details: str, method: str) -> MMError:
    """Return the mmtasks error a client raises for a failed call of `method`."""
    message = f"{method}: {details or code.name}"
    if code is Code.INVALID_ARGUMENT or code is Code.OUT_OF_RANGE:
        return ValidationError(details)
    if code is Code.NOT_FOUND:
        return OrderNotFoundError(message)
    if code is Code.FAILED_PRECONDITION:
        # On a cancel it means the order is already filled or cancelled: gone, settle from updates.
        return OrderNotFoundError(message) if method in CANCELS else OrderRejectedError(message)
    if code is Code.RESOURCE_EXHAUSTED:
        wait = RETRY_AFTER_RE.search(details or "")
        return RateLimitedError(message, float(wait.group(1)) if wait else 0.0)
    if code is Code.UNAVAILABLE and OrderStillSending.MARKER in (details or ""):
        return OrderStillSending(message)
    if code in (Code.UNAVAILABLE, Code.ABORTED):
        return TemporaryError(message)
    if code is Code.DEADLINE_EXCEEDED or code is Code.CANCELLED:
        return AmbiguousOutcomeError(message)
    if code in (Code.UNKNOWN, Code.INTERNAL, Code.DATA_LOSS) and method in MUTATING:
        return AmbiguousOutcomeError(message)
    if code is Code.PERMISSION_DENIED:
        return VenueAuthError(message)
    # UNAUTHENTICATED, UNIMPLEMENTED, INTERNAL on a read: fix the setup.
    return OperationalError(message)
