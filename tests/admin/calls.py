"""Admin calls: sent from the test process with `app.send_task` (the message `celery call`
sends), and through `celery -A mmtasks call` subprocesses for one CLI smoke test per family."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.kit.poll import eventually
from tests.kit.procs import ROOT, base_env

CALL_TIMEOUT_S = 60
RESULT_TIMEOUT_S = 60

Call = tuple[str, dict[str, Any]]


def _call_argv(task: str, kwargs: dict[str, Any]) -> list[str]:
    return [
        *(sys.executable, "-m", "celery", "-A", "mmtasks", "call"),
        *(f"mmtasks.admin.{task}", "--kwargs", json.dumps(kwargs)),
    ]


def celery_call_ids(env: dict[str, str], calls: list[Call]) -> list[str]:
    """Run one `celery call` per call, all at once; return the task ids they print, in order."""
    procs = [
        subprocess.Popen(
            _call_argv(task, kwargs),
            cwd=ROOT,
            env=base_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task, kwargs in calls
    ]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=CALL_TIMEOUT_S)
        assert proc.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    return ids


def celery_result(env: dict[str, str], task_id: str) -> str:
    """Return what `celery -A mmtasks result <id>` prints."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "mmtasks", "result", task_id],
        cwd=ROOT,
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
        check=True,
    )
    return done.stdout


class Admin:
    """Sends admin calls (by task name, as `celery call` does) and reads their results."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def ids(self, calls: list[Call]) -> list[str]:
        """Send calls through `celery call` subprocesses; return the task ids they print."""
        return celery_call_ids(self.env, calls)

    def sent_ids(self, calls: list[Call]) -> list[str]:
        """Send calls from this process with app.send_task; return the task ids."""
        from mmtasks.celery import app

        return [app.send_task(f"mmtasks.admin.{task}", kwargs=kwargs).id for task, kwargs in calls]

    def results(self, ids: list[str]) -> list[dict[str, Any]]:
        from mmtasks.celery import app

        return [app.AsyncResult(task_id).get(timeout=RESULT_TIMEOUT_S) for task_id in ids]

    def app_result(self, task_id: str) -> Any:
        """Return the AsyncResult of task_id once it is ready (success or failure)."""
        from mmtasks.celery import app

        result = app.AsyncResult(task_id)
        eventually(result.ready, timeout_s=RESULT_TIMEOUT_S)
        return result

    def call_all(self, calls: list[Call], *, cli: bool = False) -> list[dict[str, Any]]:
        """Send every call at once (with cli, as `celery call` processes); return results."""
        return self.results(self.ids(calls) if cli else self.sent_ids(calls))

    def call(self, task: str, *, cli: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Send one call and return its result."""
        return self.call_all([(task, kwargs)], cli=cli)[0]
