"""Recordings of the connector's streams: files per symbol, rotating, gzip-compressed.

Layout (written by `python -m mmtasks.replay.record`, read by `mmtasks replay --recording`):

    <data-dir>/recordings/recorder.json          who records what (once subscribed)
    <data-dir>/recordings/<SYMBOL>/info.json     rules and fee rates (GetSymbolInfo)
    <data-dir>/recordings/<SYMBOL>/ticks-<UTC>.csv.gz         ts_event_ms,price,seq
    <data-dir>/recordings/<SYMBOL>/klines-<iv>-<UTC>.csv.gz   open_ms,o,h,l,c,volume,closed

Prices stay the connector's decimal strings. A file is closed and the next begun once it holds
`rotate_bytes` of text or has been open `rotate_s`; names sort in time order. Open files are
flushed every `FLUSH_S`, so a recording can be read while it grows (the unfinished tail of the
newest file is ignored).

Volume: the price stream carries none; the kline stream does. The simulated exchange sends one
forming-candle update per trade (after the timer's closing ones), so a tick's volume is the
growth of its candle's volume; when a window's counts do not line up (the recorder started
mid-candle, a real venue batching updates) the window's closed volume goes on its last tick.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mmtasks.decimals import ZERO, canon
from mmtasks.errors import ValidationError
from mmtasks.replay import series
from mmtasks.replay.feed import interval_ms
from mmtasks.replay.series import Series

FLUSH_S = 1.0
TICKS = "ticks"
INFO_FILE = "info.json"
RECORDER_FILE = "recorder.json"


def file_stamp(now_s: float) -> str:
    """Return a UTC stamp for a file name that sorts in time order."""
    return datetime.fromtimestamp(now_s, UTC).strftime("%Y%m%dT%H%M%S%fZ")


class RotatingGzip:
    """Lines appended to `<folder>/<prefix>-<UTC>.csv.gz`, a new file by size or age.

    Thread-safe: a stream's reader writes while a timer flushes (so a quiet stream's last lines
    become readable too).
    """

    def __init__(self, folder: Path, prefix: str, rotate_bytes: int, rotate_s: float) -> None:
        self.folder, self.prefix = folder, prefix
        self.rotate_bytes, self.rotate_s = rotate_bytes, rotate_s
        self._fh: gzip.GzipFile | None = None
        self._opened_s = self._flushed_s = 0.0
        self._bytes = 0
        self.files = 0
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """Append one line (no newline); rotate and flush as due."""
        with self._lock:
            self._write(line)

    def _write(self, line: str) -> None:
        now = time.monotonic()
        if self._fh is not None and (
            self._bytes >= self.rotate_bytes or now - self._opened_s >= self.rotate_s
        ):
            self._close()
        if self._fh is None:
            self._open(now)
        assert self._fh is not None
        data = f"{line}\n".encode()
        self._fh.write(data)
        self._bytes += len(data)
        if now - self._flushed_s >= FLUSH_S:
            self._flush()

    def flush(self) -> None:
        """Make what was written readable (a gzip sync point)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()  # Z_SYNC_FLUSH: readable up to here
            self._flushed_s = time.monotonic()

    def close(self) -> None:
        """Finish the current file."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open(self, now: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.prefix}-{file_stamp(time.time())}.csv.gz"
        while path.exists():  # two rotations within one microsecond
            path = path.with_name(f"{path.name.removesuffix('.csv.gz')}x.csv.gz")
        # Kept open across writes on purpose: close() finishes it (rotation, stop).
        self._fh = gzip.open(path, "wb", compresslevel=6)  # noqa: SIM115
        self._opened_s = self._flushed_s = now
        self._bytes = 0
        self.files += 1


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write data as JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


# -- reading -------------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[str]:
    """Yield the complete lines of a gzip file, stopping quietly at an unfinished tail."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    return  # half a line: the writer is in the middle of it
                yield line.rstrip("\n")
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return  # the file is still being written (or was cut by a crash): keep what is complete


def symbol_folder(root: Path, symbol: str) -> Path:
    """Return the folder holding symbol's recording under root (the recordings or data dir)."""
    for folder in (root / symbol, root / "recordings" / symbol):
        if any(folder.glob(f"{TICKS}-*.csv.gz")):
            return folder
    found = sorted(p.parent.name for p in root.glob("**/ticks-*.csv.gz"))
    raise ValidationError(
        f"no recording of {symbol} under {root} (expected {root}/{symbol}/ticks-*.csv.gz); "
        f"recorded symbols there: {', '.join(sorted(set(found))) or 'none'}"
    )


@dataclass(frozen=True)
class RecordedTick:
    """One line of a ticks file."""

    ts_ms: int
    price: str
    seq: int


def read_ticks(folder: Path) -> list[RecordedTick]:
    """Return the recorded ticks in seq order (a repeated seq, after a reconnect, once)."""
    out: list[RecordedTick] = []
    last_seq = -1
    for path in sorted(folder.glob(f"{TICKS}-*.csv.gz")):
        for number, line in enumerate(_lines(path), start=1):
            try:
                ts_text, price, seq_text = line.split(",")
                tick = RecordedTick(int(ts_text), canon(Decimal(price)), int(seq_text))
            except (ValueError, ArithmeticError):
                raise ValidationError(
                    f"{path}: row {number}: expected ts_event_ms,price,seq, received {line!r}"
                ) from None
            if tick.seq <= last_seq:
                continue
            if out and tick.ts_ms < out[-1].ts_ms:
                raise ValidationError(
                    f"{path}: row {number}: time must not go back, received {tick.ts_ms} "
                    f"after {out[-1].ts_ms}"
                )
            last_seq = tick.seq
            out.append(tick)
    return out


@dataclass(frozen=True)
class RecordedKline:
    """One kline update as streamed (forming or closed)."""

    open_ms: int
    close: Decimal
    volume: Decimal
    closed: bool


def read_klines(folder: Path, interval: str) -> list[RecordedKline]:
    """Return the recorded kline updates of an interval, in stream order."""
    out = []
    for path in sorted(folder.glob(f"klines-{interval}-*.csv.gz")):
        for number, line in enumerate(_lines(path), start=1):
            cells = line.split(",")
            try:
                kline = RecordedKline(
                    int(cells[0]), Decimal(cells[4]), Decimal(cells[5]), cells[6] == "1"
                )
            except (ValueError, IndexError, ArithmeticError):
                raise ValidationError(
                    f"{path}: row {number}: expected open_ms,open,high,low,close,volume,closed, "
                    f"received {line!r}"
                ) from None
            out.append(kline)
    return out


def tick_volumes(
    ticks: list[RecordedTick], klines: list[RecordedKline], kline_ms: int
) -> list[Decimal]:
    """Return each tick's traded volume, from the growth of its candle (see the module doc)."""
    volumes = [ZERO] * len(ticks)
    by_window: dict[int, list[int]] = defaultdict(list)
    for k, tick in enumerate(ticks):
        by_window[tick.ts_ms - tick.ts_ms % kline_ms].append(k)
    forming: dict[int, list[Decimal]] = defaultdict(list)
    closed: dict[int, Decimal] = {}
    for kline in klines:
        if kline.closed:
            closed[kline.open_ms] = kline.volume
        else:
            forming[kline.open_ms].append(kline.volume)
    for window, members in by_window.items():
        updates = forming.get(window, [])
        if len(updates) == len(members) + 1:
            updates = updates[1:]  # the timer opened the window flat before its first trade
        if len(updates) == len(members):
            previous = ZERO
            for k, cumulative in zip(members, updates, strict=True):
                volumes[k] = cumulative - previous
                previous = cumulative
        elif window in closed:
            volumes[members[-1]] = closed[window]
    return volumes


@dataclass(frozen=True)
class Recording:
    """A symbol's recorded ticks as a series, and the rules the connector reported, if any."""

    data: Series
    info: dict[str, str] | None


def load_recording(root: Path, symbol: str, kline_interval: str = "1m") -> Recording:
    """Return symbol's recording under root as a tick series (volumes from the klines)."""
    folder = symbol_folder(root, symbol)
    ticks = read_ticks(folder)
    if not ticks:
        raise ValidationError(f"{folder}: the recording holds no complete tick yet")
    volumes = tick_volumes(ticks, read_klines(folder, kline_interval), interval_ms(kline_interval))
    data = series.ticks(
        [t.ts_ms for t in ticks], [t.price for t in ticks], [canon(v) for v in volumes]
    )
    info_path = folder / INFO_FILE
    info = json.loads(info_path.read_text()) if info_path.exists() else None
    return Recording(data, info)
