"""Every error class of mmtasks, chosen by how the caller must respond (its `response`)."""

from __future__ import annotations

from enum import StrEnum


class Response(StrEnum):
    """What the system does when an error of a class is raised."""

    RETRY = "retry"  # temporary: retry with backoff
    RECORD = "record"  # the venue said no: record it, never retry blindly
    HALT = "halt"  # operational: halt the symbol and alert
    REPORT = "report"  # validation: goes back to the caller, nothing changed


class MMError(Exception):
    """Base of every mmtasks error."""

    response = Response.HALT


class ValidationError(MMError, ValueError):
    """Input that is wrong: the message says what was received and what was expected."""

    response = Response.REPORT


class UnknownSymbolError(ValidationError):
    """A symbol that the registry, the connector or the config does not know."""


class TemporaryError(MMError):
    """Network blip, rate limit, timeout: safe to retry after a pause."""

    response = Response.RETRY


class AmbiguousOutcomeError(TemporaryError):
    """A call whose effect is unknown (timeout, crash): ask the exchange before acting again."""


class OrderRejectedError(MMError):
    """The exchange refused an order (post-only would cross, min notional, reduce-only)."""

    response = Response.RECORD


class OrderNotFoundError(MMError):
    """The exchange does not know the order (already gone): settle from the order update."""

    response = Response.RECORD


class OrderNotOpenError(OrderNotFoundError):
    """The order exists but is already filled, cancelled, rejected or expired."""


class RateLimitedError(TemporaryError):
    """Too many calls per second: retry after a pause."""


class InjectedFaultError(MMError):
    """A failure scheduled by the simulator's test control; code is a gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OperationalError(MMError):
    """State that cannot be trusted (drift, lost lock, corrupt data): halt the symbol."""

    response = Response.HALT


class LockLostError(OperationalError):
    """Our symbol lock expired or was taken over; our writes are fenced off."""
