"""Which worker process consumes which symbol queues: decided here, and nowhere else.

A worker process holds many symbols: `celery -A mmtasks worker -P threads -c THREADS -Q <its
queues> -n symbols<b>@%h`, a pool of threads over its queues. A symbol's steps still run one at
a time and in order (its lock and inbox cursor), whichever thread takes them; a task that finds
its symbol busy leaves a wake for the step holding it and frees its thread at once, so one slow
symbol holds one thread, never its neighbours.

The symbols are spread over `buckets` worker processes by a stable hash of the symbol's name,
so adding or removing a symbol never moves another one. `make run`, `mmtasks queues` (which
the Procfile and compose call) and the docs all take the assignment from here.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

from mmtasks.domain import queue_for

SYMBOLS_PER_WORKER = 32  # a process's share; measured in docs/operations.md ("Many symbols")
THREADS = 8  # threads per worker process: how many of its symbols may step at the same time
NODE_PREFIX = "symbols"  # worker node names: symbols0@host, symbols1@host, ...


def buckets_for(n_symbols: int, per_worker: int = SYMBOLS_PER_WORKER) -> int:
    """Return how many worker processes n_symbols need at per_worker symbols each (at least 1)."""
    if per_worker < 1:
        raise ValueError(f"symbols per worker must be at least 1, received {per_worker}")
    return max(1, math.ceil(n_symbols / per_worker))


def bucket_of(symbol: str, buckets: int) -> int:
    """Return the worker process (0 .. buckets-1) that consumes symbol's queue."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, received {buckets}")
    return zlib.crc32(symbol.upper().encode()) % buckets


def queues_of(symbols: Iterable[str], bucket: int, buckets: int) -> list[str]:
    """Return the sorted queues of the symbols that bucket consumes."""
    return sorted(queue_for(s) for s in symbols if bucket_of(s, buckets) == bucket)


def node_name(bucket: int) -> str:
    """Return the Celery node name of bucket's worker, before `@host`."""
    return f"{NODE_PREFIX}{bucket}"


def idle_queue(bucket: int) -> str:
    """Return the queue a bucket's worker consumes while it has no symbol (Celery wants one)."""
    return f"{node_name(bucket)}-idle"


def worker_argv(bucket: int, queues: list[str], threads: int = THREADS) -> list[str]:
    """Return the arguments after `celery -A mmtasks` that start bucket's worker."""
    return [
        "worker",
        "-P",
        "threads",
        "-c",
        str(threads),
        "-Q",
        ",".join(queues) or idle_queue(bucket),
        "-n",
        f"{node_name(bucket)}@%h",
        "--loglevel",
        "INFO",
    ]
