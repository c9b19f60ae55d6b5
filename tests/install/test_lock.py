"""The lock is what an install resolves: every package pinned, installed exactly, hash-checked.

`make install`, .ci/run, the Dockerfile and the README's manual line install from the lock files
and resolve nothing, so a new release on the package index changes nothing until `make lock`.
"""

from __future__ import annotations

import importlib.metadata as md
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.install.lockfile import DEPLOY_LOCK, LOCK, PIP_LOCK, ROOT, entries, pins

# Installed by `make install` but not pinned in the lock: the project itself (editable).
NOT_LOCKED = {"mmtasks"}


def _installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in md.distributions()}


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_installed_package_is_the_locks_version_and_nothing_else_is_installed() -> None:
    locked = pins(LOCK)
    installed = _installed()
    wrong = {n: (v, locked[n]) for n, v in installed.items() if n in locked and locked[n] != v}
    unlocked = sorted(set(installed) - set(locked) - NOT_LOCKED)
    missing = sorted(set(locked) - set(installed))
    assert not wrong, f"installed (version, lock's) differ: {wrong}; run `make install`"
    assert not unlocked, f"installed but not in requirements.lock: {unlocked}; run `make lock`"
    assert not missing, f"pinned in requirements.lock but not installed: {missing}"


def test_the_lock_satisfies_every_range_in_pyproject() -> None:
    locked = pins(LOCK)
    unmet = [
        str(r)
        for r in _requirements(("dev", "embedded"))
        if r.marker is None or r.marker.evaluate()
        if not r.specifier.contains(locked.get(canonicalize_name(r.name), "0"), prereleases=True)
    ]
    assert not unmet, f"pyproject.toml asks for {unmet}, which the lock does not hold: `make lock`"


def test_the_deploy_lock_holds_the_runtime_at_the_same_versions() -> None:
    full = {(n, v) for n, v, _ in entries(LOCK)}
    deploy = {n: v for n, v, _ in entries(DEPLOY_LOCK)}
    differ = sorted((n, v) for n, v, _ in entries(DEPLOY_LOCK) if (n, v) not in full)
    assert not differ, f"pinned in requirements-deploy.lock, not in requirements.lock: {differ}"
    runtime = {canonicalize_name(r.name) for r in _requirements(())}
    assert runtime <= set(deploy), f"runtime packages missing: {sorted(runtime - set(deploy))}"
    dev_only = {"pytest", "mypy", "ruff", "grpcio-tools", "playwright", "uv"}
    assert not dev_only & set(deploy), "the deploy lock holds dev tools"


def test_every_pin_carries_hashes() -> None:
    for path in (LOCK, DEPLOY_LOCK):
        lines = path.read_text().splitlines()
        starts = [i for i, line in enumerate(lines) if line[:1].isalnum()]
        assert len(starts) == len(entries(path)) > 50, f"{path.name}: a line is not a pin"
        for i in starts:  # a pin continues onto its first hash
            assert lines[i].endswith("\\"), f"{path.name}: {lines[i]} has no hashes"
            assert lines[i + 1].strip().startswith("--hash=sha256:"), lines[i + 1]


def _pip_block(path: str) -> str:
    """Return the pip pin of a lock with its hashes, as text (comments left out)."""
    lines, keep = [], False
    for line in (ROOT / path).read_text().splitlines():
        keep = keep or line.startswith("pip==")
        if keep and line.lstrip().startswith("#"):
            break
        if keep:
            lines.append(line)
    return "\n".join(lines)


def test_the_pip_lock_is_the_locks_pip_with_the_same_hashes() -> None:
    # Arrange + Act: the pin a new venv installs first, and the lock's own.
    first, locked = _pip_block(PIP_LOCK.name), _pip_block(LOCK.name)

    # Assert: the same version and hashes, and nothing else in the file (`make lock` writes both).
    assert locked.startswith("pip==") and "--hash=sha256:" in locked
    assert first == locked, "requirements-pip.lock is not requirements.lock's pip: `make lock`"
    assert [n for n, _, _ in entries(PIP_LOCK)] == ["pip"]
