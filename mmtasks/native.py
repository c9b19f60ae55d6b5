"""Compiled modules: the hot pure code, compiled by Cython from its own source, or none of it.

`make install` (and `make native` after an edit) compiles the modules below with Cython
(scripts/native.py): the same source, so there is no second implementation to keep equal, only
a faster way to run it. A replay runs 1.2-1.4x faster compiled (docs/replay.md, "Seventh
pass"). A machine with no C compiler keeps the pure Python: same results, slower.

A compiled module is used only while it is current, and only through this module. The build
lands outside the import path (`build/native/<python>/`, beside the checkout's `mmtasks/`), so
Python never finds an extension module there by itself: not after a checkout of an older commit,
not for a module taken off the list. It records each source's SHA-256 in its `manifest.json`.
At import, the finder below loads a listed module from the build only while its source still
has the digest it was compiled from; an edit since `make native` runs from source, with one
warning. `MMTASKS_PURE=1` loads every one of them from source (the pure-Python fallback, and
what the tests compare the compiled build against).

    python scripts/native.py           compile them (what `make native` runs)
    python scripts/native.py --status  which modules run compiled, stale or pure
    python scripts/native.py --check   exit 1 unless every one runs compiled (CI)
    python scripts/native.py --clean   remove the build: every module runs from source
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = Path(__file__).resolve().parent
BUILD = PACKAGE.parent / "build" / "native" / sys.implementation.cache_tag
MANIFEST = BUILD / "manifest.json"
PURE_ENV = "MMTASKS_PURE"

# The grid core (config.py builds pydantic models: left as it is), the replay's inner loop, the
# live step's shell, the state codec and wire, and the decimal helpers under all of them.
NATIVE_MODULES: tuple[str, ...] = tuple(
    f"mmtasks.{module}"
    for package, names in (
        ("grid.", "accounting actions band frame ids indicators logic models quickinit quotable"),
        ("grid.", "sizing transitions"),
        ("replay.", "engine fastforward feed firing loop matcher path"),
        ("trading.", "admission advance effects executor health persist snapshot step"),
        ("state.", "codec keys record store wire"),
        ("", "decimals"),
    )
    for module in (package + name for name in names.split(" "))
)


def pure_requested() -> bool:
    """Return True when MMTASKS_PURE asks for every module from source (any value but 0)."""
    # The environment, not a setting: it must be read before anything else of mmtasks loads.
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def source_of(module: str) -> Path:
    """Return the source file of one of NATIVE_MODULES."""
    return PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")


def digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes, as hex: what the build records of each source."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest() -> dict[str, str]:
    """Return {module: SHA-256 of the source it was compiled from}; {} when nothing is built."""
    try:
        data = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}
    modules = data.get("modules")
    return modules if isinstance(modules, dict) else {}


def compiled_file(module: str) -> Path | None:
    """Return the extension module the build holds for module, if there is one."""
    base = BUILD.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.exists():
            return candidate
    return None


def verdict(module: str, manifest: dict[str, str], pure: bool) -> str:
    """Return how module loads: "compiled", "pure" (nothing built for it, or MMTASKS_PURE) or
    "stale" (built, but its source changed since: loaded from source)."""
    if pure or compiled_file(module) is None:
        return "pure"
    recorded = manifest.get(module)
    if recorded is None or recorded != digest(source_of(module)):
        return "stale"
    return "compiled"


class _Finder(importlib.abc.MetaPathFinder):
    """Loads a NATIVE_MODULES module from the build while it is current, else from its source;
    every other module is left to Python's own finders."""

    def __init__(self, pure: bool) -> None:
        self.pure = pure
        self.manifest = read_manifest() if not pure else {}
        self.modules = frozenset(NATIVE_MODULES)
        self.stale: list[str] = []  # modules loaded from source although a build holds them

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        how = verdict(fullname, self.manifest, self.pure)
        if how == "compiled":
            built = str(compiled_file(fullname))
            extension = importlib.machinery.ExtensionFileLoader(fullname, built)
            return importlib.util.spec_from_file_location(fullname, built, loader=extension)
        if how == "stale":
            self.stale.append(fullname)
            warnings.warn(
                f"{fullname} changed since it was compiled: loaded from its source (slower); "
                "run `make native` to compile it again",
                RuntimeWarning,
                stacklevel=2,
            )
        source = str(source_of(fullname))
        loader = importlib.machinery.SourceFileLoader(fullname, source)
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


_FINDER: list[_Finder] = []


def install() -> None:
    """Put the finder first on sys.meta_path, once (mmtasks/__init__.py calls this)."""
    if not _FINDER:
        _FINDER.append(_Finder(pure_requested()))
        sys.meta_path.insert(0, _FINDER[0])


def status() -> dict[str, str]:
    """Return {module: "compiled" | "stale" | "pure"} as a process started now would load them
    (the build and the environment as they are now)."""
    manifest, pure = read_manifest(), pure_requested()
    return {module: verdict(module, manifest, pure) for module in NATIVE_MODULES}


def summary(verdicts: dict[str, str] | None = None) -> str:
    """One line for benchmarks and logs: how many of the hot modules run compiled."""
    verdicts = status() if verdicts is None else verdicts
    compiled = sum(1 for v in verdicts.values() if v == "compiled")
    if compiled == len(verdicts):
        return f"all {compiled} compiled (Cython)"
    if compiled == 0:
        why = "MMTASKS_PURE=1" if pure_requested() else "not built"
        return f"all from source, pure Python ({why}; `make native` compiles them)"
    stale = sorted(m for m, v in verdicts.items() if v != "compiled")
    return f"{compiled} of {len(verdicts)} compiled; from source: {', '.join(stale)}"


def built_for(modules: dict[str, str], directives: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest the build writes for {module: source digest}."""
    return {"cache_tag": sys.implementation.cache_tag, "directives": directives, "modules": modules}
