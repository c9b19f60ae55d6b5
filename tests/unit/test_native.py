"""The compiled hot modules (mmtasks/native.py): used only while current, and equal to the source.

A module is loaded from its source when MMTASKS_PURE is set, when nothing is built, or when its
source changed since the build (never a stale build silently), and from the build, outside the
import path, only through our finder. A replay run compiled gives the same fills and report, to
the digit, as the same replay from the source (the pure-Python fallback): on the fast path
(busy and calm grids) and on the plain loop.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mmtasks import native

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "mmtasks" / "replay" / "data" / "sample-BTCUSDT-1m.csv"
BUILT = all(v == "compiled" for v in native.status().values())
needs_build = pytest.mark.skipif(
    not BUILT, reason="the hot modules are not compiled here (`make native`; CI checks it)"
)


def _env(pure: bool, compiled: bool = False) -> dict[str, str]:
    skip = (native.PURE_ENV, native.COMPILED_ENV)
    env = {k: v for k, v in os.environ.items() if k not in skip}
    if pure:
        env[native.PURE_ENV] = "1"
    if compiled:
        env[native.COMPILED_ENV] = "1"
    return env


def _files(env: dict[str, str]) -> list[str]:
    """Return where a new interpreter with env loads every hot module from."""
    code = (
        "import importlib, json\n"
        "from mmtasks.native import NATIVE_MODULES\n"
        "print(json.dumps([importlib.import_module(m).__file__ for m in NATIVE_MODULES]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def test_every_hot_module_has_its_source_in_the_package() -> None:
    # Arrange + Act
    missing = [m for m in native.NATIVE_MODULES if not native.source_of(m).is_file()]

    # Assert: a module that moved or was renamed fails here, not as a silent pure import.
    assert not missing


@pytest.mark.parametrize(
    ("pure", "compiled"),
    [(False, False), (True, False), (True, True)],
    ids=["not-asked", "pure", "both"],
)
def test_a_process_that_did_not_ask_or_is_told_pure_runs_the_source(
    pure: bool, compiled: bool
) -> None:
    # Arrange + Act: a worker's process (nothing asked), MMTASKS_PURE=1, and both set.
    files = _files(_env(pure=pure, compiled=compiled))

    # Assert
    assert len(files) == len(native.NATIVE_MODULES)
    assert all(f.endswith(".py") for f in files), [f for f in files if not f.endswith(".py")]


def test_nothing_compiled_lies_where_python_would_find_it_by_itself() -> None:
    # Arrange: the package's own folders, where Python's finders look without ours.
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)

    # Act
    strays = [p for p in native.PACKAGE.rglob("*") if p.name.endswith(suffixes)]

    # Assert: a build beside the sources would load without the digest check (an older
    # checkout, a module taken off the list); the build lives under build/native instead.
    assert not strays


def test_verdict_follows_the_build_the_source_and_the_switch() -> None:
    # Arrange: one module, its source's digest as a build would record it.
    module = "mmtasks.grid.ids"
    current = {module: native.digest(native.source_of(module))}
    edited = {module: "0" * 64}
    built = native.compiled_file(module) is not None

    # Act + Assert: pure whatever the build says; without a build, pure.
    assert native.verdict(module, current, pure=True) == "pure"
    if not built:
        assert native.verdict(module, current, pure=False) == "pure"
        return
    assert native.verdict(module, current, pure=False) == "compiled"
    assert native.verdict(module, edited, pure=False) == "stale"
    assert native.verdict(module, {}, pure=False) == "stale"  # built by something else


@needs_build
def test_a_stale_build_is_loaded_from_source_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: a process that asked for the build; the finder's manifest records another
    # source for ids.py.
    monkeypatch.setenv(native.COMPILED_ENV, "1")
    finder = native._Finder()
    finder.manifest = {**native.read_manifest(), "mmtasks.grid.ids": "0" * 64}

    # Act
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stale = finder.find_spec("mmtasks.grid.ids", None)
        current = finder.find_spec("mmtasks.grid.logic", None)
        other = finder.find_spec("mmtasks.grid.config", None)

    # Assert: the source for the edited module, counted stale with a RuntimeWarning; the build
    # for a current one; modules outside the list are left to Python's own finders.
    assert stale is not None and stale.origin == str(native.source_of("mmtasks.grid.ids"))
    assert finder.stale == ["mmtasks.grid.ids"]
    assert [w.category for w in caught] == [RuntimeWarning]
    assert current is not None and current.origin == str(native.compiled_file("mmtasks.grid.logic"))
    assert other is None


@needs_build
def test_a_process_that_asks_runs_every_hot_module_compiled() -> None:
    # Arrange + Act
    files = _files(_env(pure=False, compiled=True))

    # Assert: each from the build, none from the package's folders.
    assert files == [str(native.compiled_file(m)) for m in native.NATIVE_MODULES]


def _replay(tmp: Path, pure: bool, args: list[str]) -> tuple[bytes, dict[str, object]]:
    """Run `mmtasks replay` (which asks for the build) with or without MMTASKS_PURE."""
    name = "pure" if pure else "compiled"
    fills, report = tmp / f"{name}.csv", tmp / f"{name}.json"
    command = [sys.executable, "-m", "mmtasks.cli", "replay", "--data", str(SAMPLE), *args]
    command += ["--fills", str(fills), "--json", str(report)]
    done = subprocess.run(
        command, env=_env(pure), capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    data.pop("elapsed_s", None)  # the one field that is a timing, not a result
    return fills.read_bytes(), data


@needs_build
@pytest.mark.parametrize(
    "args",
    [
        ["--mode", "neutral", "--interval", "10", "--order-qty", "0.01", "--fill", "touch"],
        ["--mode", "long", "--interval", "300", "--order-qty", "0.01"],
        ["--mode", "long", "--interval", "25", "--order-qty", "0.01", "--plain"],
    ],
    ids=["busy-neutral-touch", "calm-long-default-risk", "plain-loop-long"],
)
def test_a_compiled_replay_equals_the_pure_one_to_the_digit(
    tmp_path: Path, args: list[str]
) -> None:
    # Arrange + Act: the same replay from the build and from the source.
    compiled_fills, compiled_report = _replay(tmp_path, pure=False, args=args)
    pure_fills, pure_report = _replay(tmp_path, pure=True, args=args)

    # Assert: every fill, and every figure of the report, as text.
    assert compiled_fills.count(b"\n") > 10
    assert compiled_fills == pure_fills
    assert compiled_report == pure_report
