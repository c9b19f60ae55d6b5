"""The worker silences Celery's one warning on every broker loss, and only that one."""

from __future__ import annotations

import json
import warnings

from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT

from mmtasks.celery import silence_cancel_warning
from tests.kit.procs import python_says

# What a worker does before it consumes: its logging setup (which makes Celery's pending
# deprecations `always` shown), then `celeryd_after_setup`; then the warnings of a broker loss.
AS_A_WORKER = """
import json, warnings
from celery import signals
from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT
from mmtasks.celery import app
app.log.setup(loglevel="INFO")
signals.celeryd_after_setup.send(sender="worker@test", instance=None, conf=app.conf)
with warnings.catch_warnings(record=True) as seen:
    warnings.warn(CANCEL_TASKS_BY_DEFAULT, CPendingDeprecationWarning, stacklevel=1)
    warnings.warn("another deprecation", CPendingDeprecationWarning, stacklevel=1)
print(json.dumps([str(w.message) for w in seen]))
"""


def test_the_cancel_on_connection_loss_warning_is_silenced_and_no_other() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()  # pytest's own filters would show every warning
        silence_cancel_warning()
        # Celery's consumer warns so on a broker loss (consumer.py, the text it passes).
        warnings.warn(CANCEL_TASKS_BY_DEFAULT, CPendingDeprecationWarning, stacklevel=1)
        warnings.warn("another deprecation", CPendingDeprecationWarning, stacklevel=1)
        warnings.warn(CANCEL_TASKS_BY_DEFAULT, UserWarning, stacklevel=1)
    assert [(w.category, str(w.message)) for w in seen] == [
        (CPendingDeprecationWarning, "another deprecation"),
        (UserWarning, CANCEL_TASKS_BY_DEFAULT),
    ]


def test_a_worker_still_silences_it_after_celery_sets_up_its_logging() -> None:
    said = python_says(AS_A_WORKER)

    assert json.loads(said) == ["another deprecation"]
