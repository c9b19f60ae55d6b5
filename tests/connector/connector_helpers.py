"""Helpers of the connector tests: start/stop a connector process, polling, stream readers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc

T = TypeVar("T")


def eventually(fn: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.02) -> T:
    """Call fn until it returns without raising AssertionError; return its result."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval_s)


class StreamCollector:
    """Read a server stream on a thread into `messages`; `code` is its status once it ends."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.messages: list[Any] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream: Iterator[Any] = self.call
        try:
            for message in stream:
                self.messages.append(message)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code = exc.code()  # type: ignore[attr-defined]
            self.details = exc.details() or ""  # type: ignore[attr-defined]
        finally:
            self.ended.set()

    def cancel(self) -> None:
        """Stop reading (the client cancels the call)."""
        self.call.cancel()
        self.ended.wait(5)


START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


def connector_env(**extra: str) -> dict[str, str]:
    """Return the environment for a connector process: ours without CONNECTOR_TOKEN, plus extra."""
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_TOKEN"}
    env.update(extra)
    return env


def start_connector(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m mmtasks.connector --sim --port 0 ARGS`; return (process, "host:port").

    Waits for the port file, which the connector writes once it is listening and SERVING.
    """
    workdir = Path(tempfile.mkdtemp(prefix="connector-"))
    port_file = workdir / "port"
    log_file = (workdir / "connector.log").open("wb")
    command = [sys.executable, "-m", "mmtasks.connector", "--sim", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--port-file", str(port_file), *args],
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        env=env if env is not None else connector_env(),
    )
    log_file.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_connector(proc)
            log = (workdir / "connector.log").read_text(errors="replace")
            raise RuntimeError(f"connector did not start (exit {proc.returncode}):\n{log}")
        time.sleep(0.02)
    host = "127.0.0.1"
    return proc, f"{host}:{int(port_file.read_text())}"


def stop_connector(proc: subprocess.Popen[bytes]) -> int:
    """Terminate the connector (SIGTERM), kill it if it is not gone in 5 s; return its code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
