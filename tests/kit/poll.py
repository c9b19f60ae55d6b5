"""Poll instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(fn: Callable[[], T], timeout_s: float = 15.0, interval_s: float = 0.05) -> T:
    """Return fn()'s first truthy result; an AssertionError or a falsy result means not yet.

    Fail with the last value or assertion once timeout_s has passed.
    """
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last: {last!r}")
        time.sleep(interval_s)


def until_equal(
    fn: Callable[[], T],
    expected: T,
    timeout_s: float = 15.0,
    context: Callable[[], object] | None = None,
) -> None:
    """Wait until fn() == expected; fail with the last value and, when given, context()."""

    def check() -> bool:
        got = fn()
        if got != expected:
            raise AssertionError(f"got {got!r}, want {expected!r}")
        return True

    try:
        eventually(check, timeout_s=timeout_s)
    except AssertionError as exc:
        if context is None:
            raise
        raise AssertionError(f"{exc}\ncontext: {context()}") from None


def until_clear(problem: Callable[[], str], timeout_s: float = 15.0) -> None:
    """Wait until problem() returns ''; fail with the last problem it named."""
    last = [""]

    def clear() -> bool:
        last[0] = problem()
        return not last[0]

    try:
        eventually(clear, timeout_s=timeout_s)
    except AssertionError:
        raise AssertionError(last[0]) from None
