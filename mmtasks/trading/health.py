"""After the venue answered, or failed to: the latency guard, recovery, a failed step's record.

Pure like `advance` (no Redis, no venue, no clock: `now_ms` comes in); split from it by reason
to change. `advance` re-exports every name, so the worker's shell calls `advance.failure` etc.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mmtasks.errors import RateLimitedError, Response, dependency_of
from mmtasks.events import EventType, event_fields
from mmtasks.state.codec import KEPT_ON_FAILURE, SymbolStatus
from mmtasks.state.keys import StateFields
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import Snapshot

log = logging.getLogger(__name__)

RETRY_BACKOFF_BASE_S = 0.5
LATENCY_BACKOFF_MAX_S = 10.0


def latency_guard(snap: Snapshot, fx: Effects, tick_to_ack_ms: int, now_ms: int) -> bool:
    """Make the symbol DEGRADED (backing off) when tick to ack exceeded its limit."""
    limit = (fx.risk or snap.risk).max_tick_to_ack_ms
    if limit is None or tick_to_ack_ms <= limit:
        return False
    was = snap.record.degraded
    retries = (was.retry_count if was else 0) + 1
    backoff_ms = int(min(RETRY_BACKOFF_BASE_S * 2 ** (retries - 1), LATENCY_BACKOFF_MAX_S) * 1000)
    message = f"slow: tick to ack {tick_to_ack_ms} ms > max_tick_to_ack_ms {limit}"
    fx.meta.update(
        {
            "degraded_since_ms": str(was.since_ms if was else now_ms),
            "retry_count": str(retries),
            "retry_at_ms": str(now_ms + backoff_ms),
            "last_error": message,
            "last_error_dependency": "connector",
        }
    )
    if was is None:
        fx.event(EventType.SYMBOL_DEGRADED, {"error": message})
    log.warning("step degraded symbol=%s %s; pausing %d ms", snap.symbol, message, backoff_ms)
    return True


def recovered(snap: Snapshot, fx: Effects, now_ms: int) -> None:
    """Clear the DEGRADED condition once a step talked to every dependency without a fault."""
    rec = snap.record
    since = rec.degraded.since_ms if rec.degraded else rec.error_since_ms
    fx.meta.update(
        {
            "degraded_since_ms": "",
            "retry_count": "0",
            "retry_at_ms": "",
            "last_error_dependency": "",
            "recovering": "0",
        }
    )
    fx.event(
        EventType.SYMBOL_RECOVERED,
        {
            "from": "ERROR" if rec.recovery.recovering else "DEGRADED",
            "down_for_ms": now_ms - since if since else 0,
            "last_error": rec.last_error,
        },
    )
    log.info("symbol recovered symbol=%s degraded_for=%.1fs", snap.symbol, (now_ms - since) / 1000)


@dataclass(frozen=True)
class Failure:
    """What a failed step records: state fields and events (written fenced by the shell)."""

    fields: StateFields
    events: list[dict[str, str]]
    to_error: bool


def failure(
    symbol: str,
    meta: StateFields,
    exc: BaseException,
    response: Response,
    now_ms: int,
    *,
    backoff_max_s: float,
    degraded_to_error_s: float,
) -> Failure:
    """Return what a failed step records: DEGRADED with a backoff for a temporary fault, else
    ERROR (a temporary fault that outlasts degraded_to_error_s becomes ERROR too); a removed
    symbol's failure, whatever it is, is a DEGRADED one (it is retried until it has cancelled
    its orders)."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    fields: StateFields = {"last_error": message, "needs_reconcile": "1"}
    events: list[dict[str, str]] = []
    # A removed symbol backs off and tries again whatever the fault: it must go on cancelling
    # its orders, and in ERROR beat's recovery would make it ACTIVE again (it would trade).
    removed = meta.get("status") == SymbolStatus.REMOVED
    if removed or response in (Response.RETRY, Response.AMBIGUOUS):
        since = int(meta.get("degraded_since_ms") or 0) or now_ms
        retries = int(meta.get("retry_count") or 0) + 1
        backoff_s = min(RETRY_BACKOFF_BASE_S * 2 ** (retries - 1), backoff_max_s)
        # A venue that said how long to wait (429 / 418 Retry-After) is not asked sooner.
        backoff_s = max(backoff_s, float(getattr(exc, "retry_after_s", 0) or 0))
        fields |= {
            "degraded_since_ms": str(since),
            "retry_count": str(retries),
            "retry_at_ms": str(now_ms + int(backoff_s * 1000)),
            "last_error_dependency": dependency_of(exc) or "",
        }
        if since == now_ms:
            events.append(event_fields(EventType.SYMBOL_DEGRADED, symbol, {"error": message}))
        lasted_s = (now_ms - since) / 1000
        # A rate limit never escalates: the budget or the venue paces the fleet on purpose,
        # and a symbol in ERROR would wait for beat's recovery long after the limit has passed.
        paced = isinstance(exc, RateLimitedError)
        if paced or lasted_s < degraded_to_error_s or meta.get("status") in KEPT_ON_FAILURE:
            log.warning(
                "step degraded symbol=%s retry=%d in=%.1fs for=%.1fs error=%s",
                symbol,
                retries,
                backoff_s,
                lasted_s,
                message,
            )
            return Failure(fields, events, to_error=False)
        message = f"temporary fault lasted {lasted_s:.0f}s: {message}"[:500]
        fields["last_error"] = message
    fields["status"] = SymbolStatus.ERROR
    fields["error_since_ms"] = str(now_ms)
    events.append(
        event_fields(
            EventType.SYMBOL_STATE_CHANGED,
            symbol,
            {"status": SymbolStatus.ERROR, "error": message},
        )
    )
    log.error("symbol moved to ERROR symbol=%s error=%s", symbol, message)
    return Failure(fields, events, to_error=True)
