"""The one gRPC channel to the connector: options, TLS and the bearer token."""

from __future__ import annotations

from pathlib import Path

import grpc

# Big enough that an oversized message reaches validation (and is counted) instead of
# failing the whole stream; anything past this is a broken connector, not a message.
MAX_RECEIVE_BYTES = 16 * 1024 * 1024
# Servers refuse pings more often than every 5 minutes by default (too_many_pings); a dead
# peer usually shows up sooner as a closed socket.
KEEPALIVE_MS = 300_000

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", 20_000),
    # Each session opens a fresh channel, so grpc's own reconnect backoff never stacks on ours.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(addr: str, tls_ca: Path | None = None) -> grpc.aio.Channel:
    """Return a new aio channel to addr (TLS when a CA bundle is given)."""
    if tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        return grpc.aio.secure_channel(addr, credentials, options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Return the metadata every call carries: the bearer token when one is set."""
    return (("authorization", f"Bearer {token}"),) if token else ()
