"""Compiled modules: the replay's hot pure code, compiled by Cython from its own source.

`make install` (and `make native` after an edit) compiles the modules below with Cython
(scripts/native.py): the same source, so there is no second implementation to keep equal, only
a faster way to run it. A replay runs ~1.1-1.3x faster compiled (docs/replay.md, "Seventh
pass"). A machine with no C compiler keeps the pure Python: same results, slower.

Only a process that asks runs them compiled: `mmtasks replay` and the replay benchmark call
`use_compiled()` before they import the core (it sets MMTASKS_COMPILED=1, which a sweep's
worker processes inherit). Everything else, the Celery workers first, runs the source: a
worker's price step cost the same CPU compiled (`bench/bench_worker.py`), so it takes no risk
for nothing.

A compiled module is used only while it is current, and only through this module. The build
lands outside the import path (`build/native/<python>/`, beside the checkout's `mmtasks/`), so
Python never finds an extension module there by itself: not after a checkout of an older commit,
not for a module taken off the list. It records each source's SHA-256 in its `manifest.json`.
At import, the finder below loads a listed module from the build only while its source still
has the digest it was compiled from; an edit since `make native` runs from source, with one
warning. `MMTASKS_PURE=1` runs everything from source even where compiled was asked for.

    python scripts/native.py           compile them (what `make native` runs)
    python scripts/native.py --status  which modules are built and current, stale or not built
    python scripts/native.py --check   exit 1 unless every one is built and current (CI)
    python scripts/native.py --clean   remove the build
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
COMPILED_ENV = "MMTASKS_COMPILED"

# What a replay runs per candle: the grid core (config.py builds pydantic models: left as it
# is), the replay's loop, matcher and fast path, the step's decision, the decimal helpers.
NATIVE_MODULES: tuple[str, ...] = tuple(
    f"mmtasks.{module}"
    for package, names in (
        ("grid.", "accounting actions band frame ids indicators logic models quickinit quotable"),
        ("grid.", "sizing transitions"),
        ("replay.", "engine fastforward feed firing loop matcher path"),
        ("trading.", "advance"),
        ("", "decimals"),
    )
    for module in (package + name for name in names.split(" "))
)


def _flag(name: str) -> bool:
    # The environment, not a setting: it is read before anything else of mmtasks loads, and a
    # replay's worker processes inherit it.
    return os.environ.get(name, "") not in ("", "0")


def pure_requested() -> bool:
    """Return True when MMTASKS_PURE asks for every module from source (any value but 0)."""
    return _flag(PURE_ENV)


def compiled_wanted() -> bool:
    """Return True when this process asked for the compiled modules and MMTASKS_PURE is not set."""
    return _flag(COMPILED_ENV) and not pure_requested()


def use_compiled() -> None:
    """Ask for the compiled modules in this process and the processes it starts; call it before
    anything imports the core (`mmtasks replay`, the replay benchmark)."""
    os.environ[COMPILED_ENV] = "1"


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
    """In a process that asked for them, loads a NATIVE_MODULES module from the build while it
    is current, else from its source; every other module, and every module of a process that
    did not ask, is left to Python's own finders (the source: the build is not on the path)."""

    def __init__(self) -> None:
        self.manifest: dict[str, str] | None = None  # read at the first import that asks
        self.modules = frozenset(NATIVE_MODULES)
        self.stale: list[str] = []  # modules loaded from source although a build holds them

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules or not compiled_wanted():
            return None
        if self.manifest is None:
            self.manifest = read_manifest()
        how = verdict(fullname, self.manifest, pure=False)
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
        _FINDER.append(_Finder())
        sys.meta_path.insert(0, _FINDER[0])


def status() -> dict[str, str]:
    """Return {module: "compiled" | "stale" | "pure"}: how the build stands now, as a process
    that asks for it would load each module (MMTASKS_PURE counted, MMTASKS_COMPILED not)."""
    manifest, pure = read_manifest(), pure_requested()
    return {module: verdict(module, manifest, pure) for module in NATIVE_MODULES}


def summary(verdicts: dict[str, str] | None = None) -> str:
    """One line for benchmarks and logs: how this process runs the hot modules."""
    verdicts = status() if verdicts is None else verdicts
    compiled = sum(1 for v in verdicts.values() if v == "compiled")
    if not compiled_wanted():
        why = "MMTASKS_PURE=1" if pure_requested() else f"{compiled} built, not asked for"
        return f"from source, pure Python ({why})"
    if compiled == len(verdicts):
        return f"all {compiled} compiled (Cython)"
    if compiled == 0:
        return "from source, pure Python (not built: `make native` compiles them)"
    stale = sorted(m for m, v in verdicts.items() if v != "compiled")
    return f"{compiled} of {len(verdicts)} compiled; from source: {', '.join(stale)}"


def build_summary(verdicts: dict[str, str]) -> str:
    """One line on the build itself: how many hot modules are built and current."""
    current = sum(1 for v in verdicts.values() if v == "compiled")
    if current == len(verdicts):
        return f"all {current} hot modules built and current"
    other = sorted(f"{m} ({v})" for m, v in verdicts.items() if v != "compiled")
    return f"{current} of {len(verdicts)} built and current; not: {', '.join(other)}"


def built_for(modules: dict[str, str], recipe: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest the build writes for {module: source digest} made by recipe (Cython's
    version, its directives, the compiler's arguments)."""
    return {"cache_tag": sys.implementation.cache_tag, **recipe, "modules": modules}
