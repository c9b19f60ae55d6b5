"""Logs that speak trading: one line per fact, `key=value` by default, JSON with LOG_FORMAT=json.

The trading code logs facts as a phrase then fields (`order placed symbol=BTCUSDT side=BUY
price=100.5 qty=1 client_id=...`); the formatters here split that into an `event` and fields, so
`LOG_FORMAT=json` gives `{"event": "order placed", "symbol": "BTCUSDT", "price": "100.5", ...}`
and the default gives `ts=... level=INFO logger=... event="order placed" symbol=BTCUSDT ...`.
A message without fields becomes the event alone; a leading `SYMBOL: ` becomes `symbol`.

Celery workers pick this up through the `after_setup_logger` / `after_setup_task_logger`
signals (mmtasks.celery connects `on_celery_logger` to them); Celery's per-task "received" and
"succeeded" lines move to DEBUG, since the trading lines already say what the step did. Every
other process (the bridge, the connector, the web, the simulators) calls `configure` at start.
LOG_FORMAT is read here, at the edge where a process sets up its loggers.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

FORMATS = ("kv", "json")
# `key=` starting a field: a word at the start or after a space, then `=`.
_FIELD = re.compile(r"(?:^|\s)([a-z_][a-z0-9_]*)=")
_SYMBOL_PREFIX = re.compile(r"^([A-Z0-9]{2,30}): (.*)$", re.DOTALL)
_BARE = re.compile(r"^[^\s\"=]+$")
# Celery's per-task lines (celery.app.trace LOG_SUCCESS, celery.worker.strategy "received").
_PER_TASK = (" succeeded in ", "] received")
# Celery's loggers of those lines. Their other INFO lines are a retry (logged at WARNING by
# mmtasks.celery instead), a task raising `Ignore`, an exception listed in a task's `throws`,
# and a task already completed: no task here does the last three.
PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def split_message(message: str) -> tuple[str, dict[str, str]]:
    """Return (event, fields) of a `phrase key=value key=value` message.

    A value runs to the next ` key=`, so a trailing `error=...` may hold spaces.
    """
    fields: dict[str, str] = {}
    prefix = _SYMBOL_PREFIX.match(message)
    if prefix:
        fields["symbol"], message = prefix.group(1), prefix.group(2)
    matches = list(_FIELD.finditer(message))
    if not matches:
        return message.strip(), fields
    event = message[: matches[0].start()].strip()
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        fields[match.group(1)] = message[match.end() : end].strip()
    return event, fields


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the ordered fields of one log line for record."""
    event, fields = split_message(record.getMessage())
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "process": record.processName,
        "event": event,
        **fields,
    }
    for key, value in record.__dict__.items():  # extra={...} given by the caller
        if key not in _STANDARD and not key.startswith("_") and key not in out:
            out[key] = value
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        out["exc"] = record.exc_text
    return out


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), default=str, ensure_ascii=False)


def _kv_value(value: object) -> str:
    text = str(value)
    return text if text and _BARE.match(text) else json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """Format a record as `key=value` pairs on one line (values with spaces quoted)."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_kv_value(v)}" for k, v in record_fields(record).items())


class PerTaskLinesToDebug(logging.Filter):
    """Log Celery's per-task received/succeeded lines at DEBUG (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not isinstance(record.msg, str):
            return True
        if not any(marker in record.msg for marker in _PER_TASK):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def formatter_for(log_format: str | None) -> logging.Formatter:
    """Return the formatter of log_format ("kv" when unset; "json")."""
    name = (log_format or "kv").strip().lower()
    if name not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {FORMATS}, received {log_format!r}")
    return JsonFormatter() if name == "json" else KeyValueFormatter()


def use_trading_format(logger: logging.Logger, log_format: str | None) -> None:
    """Give every handler of logger the trading formatter; demote Celery's per-task lines."""
    try:
        formatter = formatter_for(log_format)
    except ValueError as exc:  # a typo in LOG_FORMAT must not stop a worker from starting
        formatter = formatter_for(None)
        logger.warning("%s; using kv", exc)
    for handler in logger.handlers:
        handler.setFormatter(formatter)
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in PER_TASK_LOGGERS:
        quiet = logging.getLogger(name)
        # Their INFO lines only with DEBUG on: Celery asks once, as the worker starts, whether
        # these loggers take INFO, and when they do it builds both lines for every task (a
        # record and a repr of its arguments and result) only for the filter to drop them.
        quiet.setLevel(logging.NOTSET if debug else logging.WARNING)
        if not any(isinstance(f, PerTaskLinesToDebug) for f in quiet.filters):
            quiet.addFilter(PerTaskLinesToDebug())


def configure(level: str = "INFO", log_format: str | None = None) -> None:
    """Set up the root logger of a non-Celery process: stderr, the trading format (log_format,
    else LOG_FORMAT)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level.upper())
    use_trading_format(root, log_format or os.environ.get("LOG_FORMAT"))


def on_celery_logger(logger: logging.Logger, **_: Any) -> None:
    """Celery's after_setup_logger / after_setup_task_logger: the trading format."""
    use_trading_format(logger, os.environ.get("LOG_FORMAT"))
