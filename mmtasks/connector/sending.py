"""The creates this connector is still sending, so "not found" is never said of one too early.

A worker that gives up on a create (its deadline passed) marks the intent unknown and later
asks the venue for it by client id (trading/reconcile.py). A venue that blocks on the network
is called from a thread that goes on after the worker stopped waiting: its budget wait and its
HTTP request can still put the order on the book seconds later. If the lookup came first and
said "not found", the worker would free the level and place it again under a new id, and the
late order would be a second one at that level.

So the connector remembers every client id it is sending, from before the venue call until the
venue answered clearly (placed, or refused). A lookup of one of them that the venue does not
know yet is answered "still being sent: ask again" (OrderStillSending: the worker's reconcile
leaves that intent as it is and asks again a second later) instead of "not found". A create that
ended without a clear answer (a timeout, a 5xx) may still land at the venue until the request's
receive window is over: its id is held `LATE_LANDING_S` more. Binance refuses a signed request
received later than its timestamp plus `recvWindow` (10 s as ccxt sends it), so 15 s covers it
with a margin.

This connector's sends only: two connectors trading one account (docs/deploy.md) do not see
each other's, and workers then must each keep to one connector.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from mmtasks.errors import (
    OrderStillSending,
    RateLimitedError,
    Response,
    VenueAuthError,
    policy_for,
)
from mmtasks.venue.port import Venue
from mmtasks.venue.types import OrderRequest, PlaceResult

LATE_LANDING_S = 15.0
IN_FLIGHT = float("inf")  # held until the venue's answer, however long that takes


class Sending:
    """Client ids of creates under way or unclear, each with how long it is held (thread-safe:
    a blocking venue's calls run on many threads)."""

    def __init__(
        self, late_s: float = LATE_LANDING_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.late_s = late_s
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def place(self, venue: Venue, requests: Sequence[OrderRequest]) -> list[PlaceResult]:
        """Return venue.batch_place(requests), each client id held while it is sent and, when
        its answer is not clear, `late_s` after."""
        ids = [r.client_order_id for r in requests if r.client_order_id]
        with self._lock:
            for cid in ids:
                self._until[cid] = IN_FLIGHT
        unclear = ids  # until the venue's answers say otherwise (whatever ends the call)
        try:
            results = venue.batch_place(list(requests))
            unclear = [
                r.client_order_id
                for r, result in zip(requests, results, strict=True)
                if r.client_order_id and result.error is not None and not _refused(result.error)
            ]
        finally:
            self._settle(ids, unclear)
        return results

    def holds(self, client_order_id: str) -> bool:
        """Return True while a create of client_order_id is sent or may still land."""
        with self._lock:
            until = self._until.get(client_order_id)
            if until is None:
                return False
            if until > self._clock():
                return True
            del self._until[client_order_id]
            return False

    def check_unknown(self, client_order_id: str, held_before: bool) -> None:
        """Raise OrderStillSending when the venue's "not found" for this id may not be final:
        held_before is whether it was held before the venue was asked (a create that landed
        during the lookup is no longer held, but the lookup may have missed it)."""
        if client_order_id and (held_before or self.holds(client_order_id)):
            raise OrderStillSending(
                f"order {client_order_id} {OrderStillSending.MARKER} to the venue (or its answer "
                f"was unclear less than {self.late_s:g}s ago): not found yet is not final, ask "
                "again"
            )

    def _settle(self, ids: list[str], unclear: list[str]) -> None:
        late = self._clock() + self.late_s
        unsure = set(unclear)
        with self._lock:
            for cid in ids:
                if cid in unsure:
                    self._until[cid] = late
                else:
                    self._until.pop(cid, None)
            now = self._clock()  # forget what is over, so the map holds only live ids
            for cid in [c for c, until in self._until.items() if until <= now]:
                del self._until[cid]


def _refused(error: Exception) -> bool:
    """Return True when the venue's answer says the order was not placed (it said no, the
    request was invalid, the rate limit or the keys were refused): nothing of it can land."""
    if isinstance(error, RateLimitedError | VenueAuthError):
        return True
    return policy_for(error) in (Response.RECORD, Response.REPORT)
