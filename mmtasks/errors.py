"""Every error class of mmtasks, chosen by how the caller must respond (its `response`)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pydantic
    from pydantic_core import ErrorDetails


class Response(StrEnum):
    """What the system does when an error of a class is raised."""

    RETRY = "retry"  # temporary: stop the step cleanly, back off, DEGRADED; never ERROR by itself
    AMBIGUOUS = "ambiguous"  # outcome unknown: keep the intent, resolve it by client id next step
    RECORD = "record"  # the venue said no: record it, never retry blindly
    HALT = "halt"  # operational: halt the symbol (ERROR), event and alert
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

    response = Response.AMBIGUOUS


class OrderRejectedError(MMError):
    """The exchange refused an order (post-only would cross, min notional, reduce-only)."""

    response = Response.RECORD


class OrderNotFoundError(MMError):
    """The exchange does not know the order (already gone): settle from the order update."""

    response = Response.RECORD


class OrderNotOpenError(OrderNotFoundError):
    """The order exists but is already filled, cancelled, rejected or expired."""


class OrderStillSending(TemporaryError):
    """A lookup found no order, but the connector is still sending its create (or its answer
    was unclear moments ago): "not found" is not final, ask again (mmtasks/connector/sending.py).
    """

    MARKER = "is still being sent"  # in the status details: the client raises this class again


class RateLimitedError(TemporaryError):
    """Too many calls per second: retry after a pause (at least retry_after_s, when known)."""

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InjectedFaultError(MMError):
    """A failure scheduled by the simulator's test control; code is a gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OperationalError(MMError):
    """State that cannot be trusted (drift, lost lock, corrupt data): halt the symbol."""

    response = Response.HALT


class VenueAuthError(OperationalError):
    """The venue refused the API key, its signature or its permissions: nothing will work."""


class LockLostError(OperationalError):
    """Our symbol lock expired or was taken over; our writes are fenced off."""


class DependencyError(TemporaryError):
    """A service mmtasks needs (Redis, Postgres, the connector) does not answer right now."""

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(message)
        self.dependency = dependency


def policy_for(exc: BaseException) -> Response:
    """Return how to respond to exc: the one mapping from error class to outcome.

    mmtasks errors carry their response. Errors of the libraries that reach our services are
    mapped here by class, so no caller decides on its own: a connection that drops or times out
    is temporary; anything not recognised is a bug, which is operational.
    """
    if isinstance(exc, MMError):
        return exc.response
    if _is_temporary(exc):
        return Response.RETRY
    return Response.HALT


def dependency_of(exc: BaseException) -> str | None:
    """Return the name of the service a temporary error came from, if one can be told."""
    if isinstance(exc, DependencyError):
        return exc.dependency
    module = type(exc).__module__
    for prefix, name in (("redis", "redis"), ("psycopg", "postgres"), ("grpc", "connector")):
        if module.startswith(prefix):
            return name
    if isinstance(exc, TemporaryError):
        return "connector"
    return None


def _is_temporary(exc: BaseException) -> bool:
    import redis

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError):
        return True
    if isinstance(exc, redis.ResponseError) and str(exc).startswith(("LOADING", "MASTERDOWN")):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - both are dependencies
        return False
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return True
    return isinstance(exc, ConnectionError | TimeoutError)


def explain(
    exc: pydantic.ValidationError, whole: str, phrase: Callable[[str, ErrorDetails], str]
) -> str:
    """Return pydantic's errors as one message: our validators' ValidationError in its own words
    (pydantic wraps it), any other error as phrase(where, error); where is the field's dotted
    path, or whole for an error of the whole input."""
    messages = []
    for error in exc.errors(include_url=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValidationError):
            messages.append(str(cause))
        else:
            messages.append(phrase(".".join(str(part) for part in error["loc"]) or whole, error))
    return "; ".join(messages)
