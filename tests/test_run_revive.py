"""The local runner starts a child that exits again (`Fleet.revive`), real processes each time:
with its command and log, not the connector or a simulator (the others reach them at the port
they picked), and not a child in a crash loop (more than RESTARTS_PER_MINUTE exits a minute)."""

from __future__ import annotations

import sys
from pathlib import Path

from mmtasks.run.children import Fleet
from mmtasks.run.defaults import RESTARTS_PER_MINUTE
from tests.helpers import eventually

# Exits 3 the first time (it leaves a mark), then stays up.
ONCE = (
    "import pathlib, sys, time; mark = pathlib.Path(sys.argv[1]); print('up', flush=True)\n"
    "if not mark.exists(): mark.touch(); sys.exit(3)\n"
    "time.sleep(120)"
)
ALWAYS = "import sys; print('up', flush=True); sys.exit(4)"


def exited(fleet: Fleet) -> object:
    return fleet.failed()


def test_a_child_that_exits_is_started_again_with_its_command_and_log(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        child = fleet.spawn("web", sys.executable, "-c", ONCE, str(tmp_path / "mark"))
        first = child.proc.pid
        eventually(lambda: exited(fleet) is child, 30, 0.05)

        said = fleet.revive(child)

        assert said is not None and said.startswith("web exited with 3: started again (1 ")
        assert child.proc.pid != first and child.alive()
        assert fleet.failed() is None and fleet.children == [child]
        eventually(lambda: child.log_path.read_text().count("up") == 2, 30, 0.05)
    finally:
        fleet.stop()


def test_the_connector_is_not_started_again(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        child = fleet.spawn("connector", sys.executable, "-c", ALWAYS, restartable=False)
        eventually(lambda: exited(fleet) is child, 30, 0.05)
        assert fleet.revive(child) is None
        assert child.proc.returncode == 4  # the exit the runner reports
    finally:
        fleet.stop()


def test_a_crash_loop_is_not_started_again_past_the_limit(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        child = fleet.spawn("bridge", sys.executable, "-c", ALWAYS)
        for n in range(1, RESTARTS_PER_MINUTE + 1):
            eventually(lambda: exited(fleet) is child, 30, 0.05)
            said = fleet.revive(child, now=100.0 + n)
            assert said is not None and f"({n} in the last minute;" in said
        eventually(lambda: exited(fleet) is child, 30, 0.05)
        assert fleet.revive(child, now=100.0 + RESTARTS_PER_MINUTE + 1) is None
        # A minute later the earlier exits no longer count.
        assert fleet.revive(child, now=100.0 + RESTARTS_PER_MINUTE + 62) is not None
    finally:
        fleet.stop()
