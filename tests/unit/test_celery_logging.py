"""A worker does not build Celery's per-task log lines unless DEBUG is on, and still says when a
task retries (mmtasks/logging_setup.py, mmtasks/celery.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from celery.app.task import Context
from celery.exceptions import Retry
from celery.signals import task_retry

from mmtasks.logging_setup import PER_TASK_LOGGERS
from mmtasks.tasks.admin import TASKS
from mmtasks.tasks.alerts import deliver
from tests.kit.procs import python_says

# A worker's logging setup at a level, then: do Celery's per-task loggers take INFO? Celery asks
# them once as the worker starts, and builds both lines for every task when they do.
AS_A_WORKER = """
import json, logging, sys
from mmtasks.celery import app
from mmtasks.logging_setup import PER_TASK_LOGGERS
app.log.setup(loglevel=sys.argv[1])
print(json.dumps([logging.getLogger(n).isEnabledFor(logging.INFO) for n in PER_TASK_LOGGERS]))
"""


@pytest.mark.parametrize(("level", "takes_info"), [("INFO", False), ("DEBUG", True)])
def test_celerys_per_task_lines_are_built_only_with_debug_on(level: str, takes_info: bool) -> None:
    said = python_says(AS_A_WORKER, level)

    assert json.loads(said) == [takes_info] * len(PER_TASK_LOGGERS)


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def retry_records(retries: list[tuple[Any, Context, Retry]]) -> list[logging.LogRecord]:
    """Return what mmtasks.celery logged when Celery said each task will retry (as trace.py
    does)."""
    kept, logger = Kept(), logging.getLogger("mmtasks.celery")
    logger.addHandler(kept)
    try:
        for task, request, reason in retries:
            task_retry.send(sender=task, request=request, reason=reason, einfo=None)
    finally:
        logger.removeHandler(kept)
    return kept.records


def test_a_retry_is_logged_at_warning_with_the_task_its_id_and_the_reason() -> None:
    task = TASKS["rehydrate"]  # retries while a dependency is down
    reason = Retry(exc=ConnectionError("postgres down"), when=2)

    (record,) = retry_records([(task, Context(task=task.name, id="a1b2"), reason)])

    assert record.levelno == logging.WARNING
    assert record.args == (task.name, "a1b2", reason)


def test_a_task_that_logs_its_own_retries_is_not_logged_twice() -> None:
    rehydrate = TASKS["rehydrate"]
    retries = [
        (deliver, Context(task=deliver.name, id="c3d4"), Retry(when=1)),
        (rehydrate, Context(task=rehydrate.name, id="e5f6"), Retry(when=1)),
    ]

    records = retry_records(retries)

    assert [record.args[:2] for record in records] == [(rehydrate.name, "e5f6")]  # type: ignore[index]
