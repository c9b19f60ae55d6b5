"""Dependency checks behind `GET /health?deep=1`: Redis, Postgres, and the connector's
standard gRPC health service. Each answers ok, its state and how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mmtasks.web.sources import Sources

CHECK_TIMEOUT_S = 2.0


def _timed(name: str, check: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        state = check()
        ok, error = state in ("up", "SERVING"), ""
    except Exception as exc:  # every failure is the answer here, never a crash of the probe
        state, ok, error = "down", False, f"{type(exc).__name__}: {exc}"[:300]
    result = {
        "ok": ok,
        "state": state,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return result | ({"error": error} if error else {})


def _connector_state(sources: Sources) -> str:
    settings = sources.settings
    addr = settings.connector_addr
    if settings.connector_tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(settings.connector_tls_ca.read_bytes())
        channel = grpc.secure_channel(addr, credentials)
    else:
        channel = grpc.insecure_channel(addr)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT_S
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    finally:
        channel.close()


def _postgres_state(sources: Sources) -> str:
    with sources.pg.connection(timeout=CHECK_TIMEOUT_S) as conn:
        conn.execute("SELECT 1").fetchone()
    return "up"


def _redis_state(sources: Sources) -> str:
    sources.redis.ping()
    return "up"


def deep_health(sources: Sources) -> dict[str, Any]:
    """Return each dependency's state and whether all of them are ok."""
    checks = {
        "redis": _timed("redis", lambda: _redis_state(sources)),
        "postgres": _timed("postgres", lambda: _postgres_state(sources)),
        "connector": _timed("connector", lambda: _connector_state(sources)),
    }
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "degraded", "checks": checks}
