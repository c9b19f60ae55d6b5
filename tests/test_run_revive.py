"""The local runner starts a child that exits again (`Fleet.revive`), real processes each time:
with its command and log, not the connector or a simulator (the others reach them at the port
they picked), and not a child in a crash loop (more than RESTARTS_PER_MINUTE exits a minute)."""

from __future__ import annotations

import sys
from pathlib import Path

from mmtasks.run.children import Fleet, _spawn_and_wait
from mmtasks.run.defaults import RESTARTS_PER_MINUTE
from tests.helpers import eventually

# Exits 3 the first time (it leaves a mark), then stays up.
ONCE = (
    "import pathlib, sys, time; mark = pathlib.Path(sys.argv[1]); print('up', flush=True)\n"
    "if not mark.exists(): mark.touch(); sys.exit(3)\n"
    "time.sleep(120)"
)
ALWAYS = "import sys; print('up', flush=True); sys.exit(4)"
# Started as the connector is (`--port 0 --port-file F`): writes its port, then exits.
PORT_THEN_EXIT = "import pathlib, sys; pathlib.Path(sys.argv[-1]).write_text('4567'); sys.exit(4)"


def test_a_child_that_exits_is_started_again_with_its_command_and_log(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        child = fleet.spawn("web", sys.executable, "-c", ONCE, str(tmp_path / "mark"))
        first = child.proc.pid
        eventually(lambda: fleet.failed() == [child], 30, 0.05)

        assert fleet.revive(child) is not None

        assert child.proc.pid != first and child.alive() and len(child.exits) == 1
        assert fleet.failed() == [] and fleet.children == [child]
        eventually(lambda: child.log_path.read_text().count("up") == 2, 30, 0.05)
    finally:
        fleet.stop()


def test_the_connector_is_not_started_again(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        port = _spawn_and_wait(fleet, "connector", tmp_path, ("-c", PORT_THEN_EXIT))
        [child] = fleet.children
        assert port == "4567"
        eventually(lambda: fleet.failed() == [child], 30, 0.05)
        pid = child.proc.pid
        assert fleet.revive(child) is None
        assert child.proc.pid == pid and child.proc.returncode == 4  # what the runner reports
    finally:
        fleet.stop()


def test_a_crash_loop_is_not_started_again_past_the_limit(tmp_path: Path) -> None:
    fleet = Fleet({}, tmp_path / "logs")
    try:
        child = fleet.spawn("bridge", sys.executable, "-c", ALWAYS)
        for n in range(1, RESTARTS_PER_MINUTE + 1):
            eventually(lambda: fleet.failed() == [child], 30, 0.05)
            pid = child.proc.pid
            assert fleet.revive(child, now=100.0 + n) is not None
            assert child.proc.pid != pid and len(child.exits) == n
        eventually(lambda: fleet.failed() == [child], 30, 0.05)
        pid = child.proc.pid
        assert fleet.revive(child, now=100.0 + RESTARTS_PER_MINUTE + 1) is None
        assert child.proc.pid == pid
        # A minute later the earlier exits no longer count.
        assert fleet.revive(child, now=100.0 + RESTARTS_PER_MINUTE + 62) is not None
        assert child.proc.pid != pid and len(child.exits) == 1
    finally:
        fleet.stop()
