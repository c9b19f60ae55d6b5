"""The connector's gRPC server: ExchangeService and health over any Venue.

Extra services (the sim's SimControl) and interceptors (the sim's fault plan) are handed in by
the entry point, so this module knows no venue in particular.

grpc.aio rather than the thread-pool server: a stream is a coroutine, not a pooled thread, so
any number of streams never starve unary calls, and writes cost no thread hand-off (measured
about 1.5x the messages/s of the sync server on two cores).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mmtasks.connector.auth import BearerTokenInterceptor, is_loopback
from mmtasks.connector.hub import StreamHub
from mmtasks.connector.service import ExchangeServicer
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.venue.port import Venue

log = logging.getLogger(__name__)

SERVICE_NAMES = ("", "mm.v1.ExchangeService")

SERVER_OPTIONS = [
    # Never share a port with another process: a second connector must fail, not split traffic.
    ("grpc.so_reuseport", 0),
    # Find dead stream clients (a killed bridge) within a minute; allow client pings.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Where and how the connector listens."""

    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True, slots=True)
class ExtraService:
    """A service served beside ExchangeService: its full name (for health) and how to add it."""

    name: str
    add_to: Callable[[grpc.aio.Server], None]


def check_options(options: ServerOptions) -> None:
    """Raise ValidationError for options the server must refuse to start with."""
    if not is_loopback(options.host) and not options.token:
        raise ValidationError(
            f"refusing to listen on {options.host!r} without a token: anyone who can reach it "
            "could trade. Set --token or CONNECTOR_TOKEN, or bind to 127.0.0.1"
        )
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ValidationError("TLS needs both --tls-cert and --tls-key, received only one")
    for path in (options.tls_cert, options.tls_key):
        if path is not None and not path.is_file():
            raise ValidationError(f"TLS file must exist, received {str(path)!r}")
    if not 0 <= options.port <= 65535:
        raise ValidationError(f"port must be 0..65535, received {options.port}")


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class ConnectorServer:
    """Serve one venue until stopped."""

    def __init__(
        self,
        venue: Venue,
        options: ServerOptions,
        *,
        services: Sequence[ExtraService] = (),
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        check_options(options)
        self.venue = venue
        self.options = options
        self.services = tuple(services)
        self.interceptors = tuple(interceptors)
        self.hub = StreamHub(venue)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Bind, start serving, mark health SERVING; return the bound port."""
        options = self.options
        # Authentication first: an unauthenticated call must not even consume a scheduled fault.
        auth = [BearerTokenInterceptor(options.token)] if options.token else []
        server = grpc.aio.server(interceptors=[*auth, *self.interceptors], options=SERVER_OPTIONS)
        pb_grpc.add_ExchangeServiceServicer_to_server(
            ExchangeServicer(self.venue, self.hub), server
        )
        for service in self.services:
            service.add_to(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = bind_address(options.host, options.port)
        try:
            if options.tls_cert and options.tls_key:
                credentials = grpc.ssl_server_credentials(
                    [(options.tls_key.read_bytes(), options.tls_cert.read_bytes())]
                )
                self.port = server.add_secure_port(address, credentials)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {address}: {exc}") from exc
        if not self.port:
            raise OSError(f"cannot listen on {address}")
        await server.start()
        self._server = server
        for name in (*SERVICE_NAMES, *(s.name for s in self.services)):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "serving %s on %s (tls=%s, auth=%s)",
            ", ".join(("ExchangeService", *(s.name for s in self.services))),
            bind_address(options.host, self.port),
            bool(options.tls_cert),
            bool(options.token),
        )
        return self.port

    async def stop(self, grace_s: float = 2.0) -> None:
        """Report NOT_SERVING, end every stream with UNAVAILABLE, then stop within grace_s."""
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        ended = self.hub.close_all(grpc.StatusCode.UNAVAILABLE, "connector shutting down")
        log.info("stopping: ended %d streams", ended)
        await self._server.stop(grace_s)
        self._server = None

    async def wait_for_termination(self) -> None:
        """Return once the server has stopped."""
        if self._server is not None:
            await self._server.wait_for_termination()

    def drop_streams(self, reason: str = "streams dropped by SimControl") -> int:
        """End every open stream with UNAVAILABLE and reason (clients reconnect and log it);
        return how many."""
        return self.hub.close_all(grpc.StatusCode.UNAVAILABLE, reason)
