"""Two beats never share a name in the beat lock, even with one host name and one pid."""

from __future__ import annotations

import os

from mmtasks.beatlock import owner_name


def test_two_beats_on_one_host_name_and_pid_hold_the_lock_under_different_names() -> None:
    # Two containers on one host network, each beat pid 1, MMTASKS_HOST the same: before, both
    # were "host:1", so the second renewed the first's lock and both scheduled.
    first, second = owner_name("host-w1"), owner_name("host-w1")
    assert first != second
    for name in (first, second):
        assert name.startswith("host-w1/") and name.endswith(f":{os.getpid()}")
