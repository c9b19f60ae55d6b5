"""The worker silences Celery's one warning on every broker loss, and only that one."""

from __future__ import annotations

import warnings

from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT

from mmtasks.celery import silence_cancel_warning


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
