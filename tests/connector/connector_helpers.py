"""Helpers of the connector tests: stream readers; the connector process and polling are the
kit's (tests/kit), re-exported here for the tests that import them by this module's name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc

from tests.kit.poll import eventually
from tests.kit.procs import base_env as connector_env
from tests.kit.procs import start_connector, stop_connector

__all__ = ["StreamCollector", "connector_env", "eventually", "start_connector", "stop_connector"]


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
