"""The venue port: one `Venue` protocol, one set of venue types, one wire codec, one grid adapter.

Implementations: the simulator's `SimVenue` (in process) and the connector's `ExchangeClient`
(over gRPC). See docs/venue.md for how to add a real venue.
"""

from __future__ import annotations

from mmtasks.venue import types
from mmtasks.venue.port import Listener, Number, Venue
from mmtasks.venue.types import *  # noqa: F403  # its __all__ lists the venue's words once

__all__ = ["Listener", "Number", "Venue"]
__all__ += types.__all__
