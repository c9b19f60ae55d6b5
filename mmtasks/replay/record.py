"""Record the connector's price and kline streams to files, for `mmtasks replay --recording`.

    python -m mmtasks.replay.record --symbols BTCUSDT,ETHUSDT
    python -m mmtasks.replay.record --symbols BTCUSDT --connector 127.0.0.1:50051 \\
        --data-dir .data --rotate-mb 64 --rotate-min 60
    mmtasks replay --recording .data/recordings --symbol BTCUSDT --interval 100 --order-qty 0.01

Writes under <data-dir>/recordings/<SYMBOL>/ (layout in mmtasks/replay/recording.py): the ticks
and the klines of each symbol, gzip-compressed, a new file by size or age. It talks to the
connector with the generated gRPC stubs, reconnects with a capped backoff when a stream drops
(what was missed meanwhile is missing from the recording), and finishes its files on SIGTERM
or Ctrl-C. <data-dir>/recordings/recorder.json appears once both streams are open.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.replay.recording import FLUSH_S, RECORDER_FILE, RotatingGzip, write_json

log = logging.getLogger("mmtasks.replay.record")

BACKOFF_START_S, BACKOFF_CAP_S = 0.5, 10.0
OPEN_TIMEOUT_S = 10.0


class Recorder:
    """Streams in, one rotating file per symbol and kind out; reconnects until stopped."""

    def __init__(
        self,
        addr: str,
        symbols: Sequence[str],
        out: Path,
        *,
        interval: str = "1m",
        token: str | None = None,
        tls_ca: Path | None = None,
        rotate_bytes: int = 64 << 20,
        rotate_s: float = 3600.0,
    ) -> None:
        self.addr, self.symbols, self.out, self.interval = addr, list(symbols), out, interval
        self.tls_ca = tls_ca
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.ticks = {s: RotatingGzip(out / s, "ticks", rotate_bytes, rotate_s) for s in symbols}
        self.klines = {
            s: RotatingGzip(out / s, f"klines-{interval}", rotate_bytes, rotate_s) for s in symbols
        }
        self.counts = {"ticks": 0, "klines": 0, "sessions": 0}
        self._stop = threading.Event()
        self._calls: list[Any] = []

    def stop(self) -> None:
        """Ask run() to return: the streams are cancelled, the files finished."""
        self._stop.set()
        for call in list(self._calls):
            call.cancel()

    def run(self) -> None:
        """Record until stop(), reconnecting with a capped backoff."""
        backoff = BACKOFF_START_S
        writers = [*self.ticks.values(), *self.klines.values()]
        flusher = threading.Thread(target=self._flush_every, args=(writers,), daemon=True)
        flusher.start()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._session()
                except grpc.RpcError as exc:
                    if self._stop.is_set():
                        break
                    log.warning("connector stream failed: %s %s", exc.code(), exc.details())
                if time.monotonic() - started > 30:
                    backoff = BACKOFF_START_S
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP_S)
        finally:
            self._stop.set()
            flusher.join(FLUSH_S * 2)
            for writer in writers:
                writer.close()
            log.info("recorder stopped: %s", self.counts)

    def _flush_every(self, writers: list[RotatingGzip]) -> None:
        while not self._stop.wait(FLUSH_S):
            for writer in writers:
                writer.flush()

    def _channel(self) -> grpc.Channel:
        if self.tls_ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=self.tls_ca.read_bytes())
            return grpc.secure_channel(self.addr, creds)
        return grpc.insecure_channel(self.addr)

    def _session(self) -> None:
        with self._channel() as channel:
            stub = pb_grpc.ExchangeServiceStub(channel)
            for symbol in self.symbols:
                info = stub.GetSymbolInfo(
                    pb.GetSymbolInfoRequest(symbol=symbol),
                    timeout=OPEN_TIMEOUT_S,
                    metadata=self.metadata,
                ).info
                write_json(self.out / symbol / "info.json", _info_dict(info))
            prices = stub.SubscribePriceBatches(
                pb.SubscribePriceRequest(symbols=self.symbols), metadata=self.metadata
            )
            klines = stub.SubscribeKlines(
                pb.SubscribeKlinesRequest(symbols=self.symbols, interval=self.interval),
                metadata=self.metadata,
            )
            self._calls = [prices, klines]
            if self._stop.is_set():
                return
            for call in self._calls:
                call.initial_metadata()  # the subscription is registered: nothing is missed
            self.counts["sessions"] += 1
            write_json(
                self.out / RECORDER_FILE,
                {
                    "pid": os.getpid(),
                    "connector": self.addr,
                    "symbols": self.symbols,
                    "interval": self.interval,
                    "since_ms": time.time_ns() // 1_000_000,
                },
            )
            log.info("recording %s from %s into %s", ",".join(self.symbols), self.addr, self.out)
            errors: list[grpc.RpcError] = []
            reader = threading.Thread(
                target=_guarded, args=(self._read_klines, klines, errors), daemon=True
            )
            reader.start()
            _guarded(self._read_prices, prices, errors)
            klines.cancel()
            reader.join(OPEN_TIMEOUT_S)
            real = [e for e in errors if e.code() is not grpc.StatusCode.CANCELLED]
            if real and not self._stop.is_set():
                raise real[0]

    def _read_prices(self, call: Iterable[Any]) -> None:
        for batch in call:
            for tick in batch.ticks:
                writer = self.ticks.get(tick.symbol)
                if writer is not None:
                    writer.write(f"{tick.ts_event_ms},{tick.price},{tick.seq}")
                    self.counts["ticks"] += 1

    def _read_klines(self, call: Iterable[Any]) -> None:
        for k in call:
            writer = self.klines.get(k.symbol)
            if writer is not None and k.interval == self.interval:
                writer.write(
                    f"{k.open_ms},{k.open},{k.high},{k.low},{k.close},{k.volume},{int(k.closed)}"
                )
                self.counts["klines"] += 1


def _guarded(
    read: Callable[[Iterable[Any]], None], call: Iterable[Any], errors: list[grpc.RpcError]
) -> None:
    try:
        read(call)
    except grpc.RpcError as exc:
        errors.append(exc)


def _info_dict(info: Any) -> dict[str, str]:
    return {
        "symbol": info.symbol,
        "tick_size": info.tick_size,
        "step_size": info.step_size,
        "min_qty": info.min_qty,
        "min_notional": info.min_notional,
        "maker_fee": info.maker_fee_rate,
        "taker_fee": info.taker_fee_rate,
    }


def parse_args(argv: list[str] | None, defaults: dict[str, Any]) -> argparse.Namespace:
    """Return the command-line options (defaults from the settings)."""
    parser = argparse.ArgumentParser(
        prog="python -m mmtasks.replay.record",
        description=(__doc__ or "").split("\n")[0],
        epilog=(__doc__ or "").split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    parser.add_argument(
        "--connector", default=defaults["connector"], help="gRPC address (CONNECTOR_ADDR)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=defaults["data_dir"],
        help="files go to <data-dir>/recordings (MMTASKS_DATA_DIR, default %(default)s)",
    )
    parser.add_argument("--interval", default="1m", help="kline interval (default %(default)s)")
    parser.add_argument("--rotate-mb", type=float, default=64.0, help="new file past this size")
    parser.add_argument("--rotate-min", type=float, default=60.0, help="new file past this age")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the recorder until SIGTERM or Ctrl-C."""
    from mmtasks.settings import build_settings

    settings = build_settings(os.environ)
    args = parse_args(argv, {"connector": settings.connector_addr, "data_dir": settings.data_dir})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    try:
        symbols = [parse_symbol(s) for s in args.symbols.split(",") if s.strip()]
        if not symbols:
            raise ValidationError(f"--symbols needs at least one symbol, received {args.symbols!r}")
        if args.rotate_mb <= 0 or args.rotate_min <= 0:
            raise ValidationError(
                f"--rotate-mb and --rotate-min must be > 0, received {args.rotate_mb} and "
                f"{args.rotate_min}"
            )
    except ValidationError as exc:
        print(f"python -m mmtasks.replay.record: {exc}", file=sys.stderr)
        return 2
    recorder = Recorder(
        args.connector,
        symbols,
        args.data_dir / "recordings",
        interval=args.interval,
        token=settings.connector_token,
        tls_ca=settings.connector_tls_ca,
        rotate_bytes=int(args.rotate_mb * (1 << 20)),
        rotate_s=args.rotate_min * 60,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: recorder.stop())
    recorder.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
