"""Where settings come from: environment, then a running fleet's services file, then defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mmtasks.celery import make_app
from mmtasks.settings import build_settings, read_services_file, write_services_file


def _fleet_file(tmp_path: Path, pid: int) -> Path:
    path = tmp_path / "services.json"
    fleet = build_settings({"MMTASKS_SERVICES_FILE": str(tmp_path / "absent.json")})
    fleet = fleet.with_services(
        REDIS_URL="redis://127.0.0.1:7001/0",
        CELERY_BROKER_URL="redis://127.0.0.1:7001/0",
        DATABASE_URL="postgresql://u@127.0.0.1:7002/db",
        CONNECTOR_ADDR="127.0.0.1:7003",
    )
    write_services_file(path, fleet, pid)
    return path


def test_a_running_fleets_services_file_is_used_when_the_environment_names_nothing(
    tmp_path: Path,
) -> None:
    path = _fleet_file(tmp_path, os.getpid())

    settings = build_settings({"MMTASKS_SERVICES_FILE": str(path)})

    assert settings.redis_url == "redis://127.0.0.1:7001/0"
    assert settings.database_url == "postgresql://u@127.0.0.1:7002/db"
    assert settings.connector_addr == "127.0.0.1:7003"
    assert settings.where("DATABASE_URL") == f"services file {path}"


def test_the_environment_wins_over_the_services_file(tmp_path: Path) -> None:
    path = _fleet_file(tmp_path, os.getpid())

    settings = build_settings(
        {"MMTASKS_SERVICES_FILE": str(path), "DATABASE_URL": "postgresql://env@h/db"}
    )

    assert settings.database_url == "postgresql://env@h/db"
    assert settings.where("DATABASE_URL") == "env"
    assert settings.redis_url == "redis://127.0.0.1:7001/0"  # the rest still from the file


def test_a_file_left_by_a_runner_that_is_gone_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = _fleet_file(tmp_path, int(gone.stdout))

    assert read_services_file(path) == {}
    settings = build_settings({"MMTASKS_SERVICES_FILE": str(path)})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.where("REDIS_URL") == "default"


def test_the_celery_app_takes_broker_and_result_backend_from_the_same_settings(
    tmp_path: Path,
) -> None:
    settings = build_settings({"MMTASKS_SERVICES_FILE": str(tmp_path / "absent.json")})
    settings = settings.with_services(REDIS_URL="redis://127.0.0.1:7001/3")

    app = make_app(settings)

    assert app.conf.broker_url == "redis://127.0.0.1:7001/3"
    assert app.conf.result_backend == "redis://127.0.0.1:7001/3"
