"""A real connector process per test module: the `connector` fixture and its clients.

`start_connector(args) -> (proc, addr)` and `stop_connector(proc)` are plain functions (kept in
connector_helpers so test modules can import them without importing a conftest).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from connector_helpers import start_connector, stop_connector

from mmtasks.connector.client import ExchangeClient
from mmtasks.connector.sim_client import SimControlClient
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

__all__ = ["start_connector", "stop_connector"]


@pytest.fixture(scope="module")
def connector_args() -> list[str]:
    """Override in a test module to start its connector differently."""
    return ["--feed", "none", "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT"]


@pytest.fixture(scope="module")
def connector(connector_args: list[str]) -> Iterator[str]:
    """Yield the address of a connector process started for this test module."""
    proc, addr = start_connector(connector_args)
    try:
        yield addr
    finally:
        stop_connector(proc)


@pytest.fixture(scope="module")
def client(connector: str) -> Iterator[ExchangeClient]:
    with ExchangeClient(connector) as c:
        yield c


@pytest.fixture(scope="module")
def control(connector: str) -> Iterator[SimControlClient]:
    with SimControlClient(connector) as c:
        yield c


@pytest.fixture(scope="module")
def stub(connector: str) -> Iterator[pb_grpc.ExchangeServiceStub]:
    """A raw ExchangeService stub, for requests the typed client would never build."""
    channel = grpc.insecure_channel(connector)
    yield pb_grpc.ExchangeServiceStub(channel)
    channel.close()
