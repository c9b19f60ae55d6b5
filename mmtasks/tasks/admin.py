"""Admin tasks on the control queue (`celery -A mmtasks call mmtasks.admin.<name>`)."""

from __future__ import annotations
