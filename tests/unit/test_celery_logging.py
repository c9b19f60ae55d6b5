"""A worker does not build Celery's per-task log lines unless DEBUG is on, and still says when a
task retries (mmtasks/logging_setup.py, mmtasks/celery.py)."""

from __future__ import annotations

import json
import logging

import pytest
from celery.app.task import Context
from celery.signals import task_retry

from mmtasks.logging_setup import PER_TASK_LOGGERS, record_fields
from mmtasks.tasks.admin import TASKS
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


def test_a_retry_is_logged_at_warning_with_the_task_and_the_reason() -> None:
    kept, logger = Kept(), logging.getLogger("mmtasks.celery")
    logger.addHandler(kept)
    try:
        task = TASKS["rehydrate"]  # a task that retries while a dependency is down
        request = Context(task=task.name, id="a1b2")
        task_retry.send(sender=task, request=request, reason="Retry in 2s", einfo=None)
    finally:
        logger.removeHandler(kept)

    (record,) = kept.records
    fields = record_fields(record)
    assert (record.levelno, fields["event"]) == (logging.WARNING, "task retries")
    assert (fields["task"], fields["id"], fields["reason"]) == (task.name, "a1b2", "Retry in 2s")
