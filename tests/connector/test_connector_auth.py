"""Bearer-token auth, refusing an open bind without a token, TLS, and the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from connector_helpers import connector_env, start_connector, stop_connector
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mmtasks.connector.client import ExchangeClient
from mmtasks.errors import OperationalError, TemporaryError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "s3cret-token"
CLI = [sys.executable, "-m", "mmtasks.connector"]


@pytest.fixture(scope="module")
def secured() -> Iterator[str]:
    """A connector that takes its token from CONNECTOR_TOKEN."""
    proc, addr = start_connector(["--feed", "none"], env=connector_env(CONNECTOR_TOKEN=TOKEN))
    yield addr
    stop_connector(proc)


def _code(fn: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        result = fn()  # type: ignore[operator]
        if hasattr(result, "__next__"):
            next(result)
    return caught.value.code()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)]
)
def test_calls_without_the_right_token_are_unauthenticated(
    secured: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    with grpc.insecure_channel(secured) as channel:
        stub = pb_grpc.ExchangeServiceStub(channel)

        unary = _code(lambda: stub.GetAccount(pb.GetAccountRequest(), metadata=metadata, timeout=5))
        stream = _code(
            lambda: stub.SubscribeOrders(pb.SubscribeOrdersRequest(), metadata=metadata, timeout=5)
        )

    assert unary is stream is grpc.StatusCode.UNAUTHENTICATED


def test_the_right_token_works_and_health_stays_open(secured: str) -> None:
    with ExchangeClient(secured, token=TOKEN) as client:
        assert client.symbol_info("BTCUSDT").symbol == "BTCUSDT"
    with ExchangeClient(secured) as anonymous, pytest.raises(OperationalError, match="token"):
        anonymous.symbol_info("BTCUSDT")
    with grpc.insecure_channel(secured) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_binding_beyond_loopback_without_a_token_is_refused() -> None:
    result = subprocess.run(
        [*CLI, "--sim", "--host", "0.0.0.0", "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=connector_env(),
    )

    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' without a token" in result.stderr
    assert "listening" not in result.stdout


def test_binding_beyond_loopback_with_a_token_serves() -> None:
    proc, addr = start_connector(["--host", "0.0.0.0", "--token", TOKEN, "--feed", "none"])
    try:
        with ExchangeClient(addr, token=TOKEN) as client:
            assert client.latest_price("ETHUSDT").symbol == "ETHUSDT"
    finally:
        stop_connector(proc)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_token(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    proc, addr = start_connector(
        ["--feed", "none", "--tls-cert", str(cert), "--tls-key", str(key), "--token", TOKEN]
    )
    try:
        with ExchangeClient(addr, token=TOKEN, tls_ca=cert) as client:
            assert client.symbol_info("ETHUSDT").quote_asset == "USDT"
        plaintext = ExchangeClient(addr, token=TOKEN, timeout_s=1)
        with plaintext, pytest.raises(TemporaryError):
            plaintext.symbol_info("ETHUSDT")
    finally:
        stop_connector(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "choose the exchange: --sim (the simulator) or --venue ID"),
        (["--sim", "--feed", "walk"], "feed must be random, none"),
        (["--sim", "--symbols", "BTCUSDT", "--start-price", "ETHUSDT=1"], "not in --symbols"),
        (["--sim", "--tls-cert", "x.pem"], "TLS needs both"),
        (["--sim", "--liquidity", "-1"], "liquidity must be > 0"),
        (["--sim", "--testnet"], "--testnet, --base-url and --paper go with --venue"),
        (
            ["--venue", "binanceusdm", "--testnet", "--base-url", "http://127.0.0.1:1"],
            "--testnet and --base-url both say where the venue is: choose one",
        ),
        (["--venue", "kraken"], "--venue 'kraken' has no adapter yet; supported: binance,"),
        (
            ["--venue", "binanceusdm", "--base-url", "ftp://127.0.0.1:1"],
            "--base-url must be http(s)://HOST[:PORT] with no path",
        ),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert message in result.stderr


def test_help_lists_the_options() -> None:
    result = subprocess.run(
        [*CLI, "--help"], check=False, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 0
    for flag in ("--feed", "--tick-ms", "--port-file", "--token", "--liquidity", "--start-price"):
        assert flag in result.stdout
