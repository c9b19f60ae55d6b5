"""Compile the replay's hot modules with Cython, from their own source (`make native`).

    python scripts/native.py           compile every module of mmtasks.native.NATIVE_MODULES
    python scripts/native.py --status  which modules are built and current, stale (edited since)
                                       or not built
    python scripts/native.py --check   exit 1 unless every one is built and current
    python scripts/native.py --clean   remove the build: every module runs from its source

The extension modules land outside the import path, in build/native/<python>/ (git ignores
build/), the generated C under build/cython, and build/native/<python>/manifest.json records the
SHA-256 of each source compiled: mmtasks/native.py loads a module from the build only while its
source still has that digest. A module whose source changed since the last build is compiled
again whatever the files' times say (copies and checkouts move them); a change of Cython or of
the directives compiles everything again. Plain Python semantics: annotations are not used as C
types, so a compiled module accepts exactly what its source does.

Without a C compiler or Python's headers the build fails with what to install, removes what an
earlier build left, and `make install` goes on: mmtasks then runs as pure Python, with the same
results, slower.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmtasks import native  # noqa: E402

DIRECTIVES = {"language_level": 3, "binding": True, "annotation_typing": False}
# Added to Python's own flags (-O3 ...), which the CFLAGS variable would replace: generated C
# draws the compiler's warnings by the hundred.
COMPILE_ARGS = ["-w"]


GENERATED = ROOT / "build" / "cython"  # the C Cython writes, by module path
OBJECTS = ROOT / "build" / "native-objects"  # the compiler's object files


def _remove_build() -> int:
    """Remove the build, the generated C and the object files; return how many modules were
    removed."""
    removed = sum(1 for m in native.NATIVE_MODULES if native.compiled_file(m) is not None)
    for folder in (native.BUILD, GENERATED, OBJECTS):
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def clean() -> int:
    removed = _remove_build()
    print(f"removed {removed} compiled modules: every hot module runs from its source")
    return 0


def _forget_changed(digests: dict[str, str], recipe: dict[str, object]) -> None:
    """Remove the generated C and the extension of every module whose source changed since the
    last build, all of them when Cython or the directives did: Cython and setuptools decide what
    to rebuild by the files' times alone, which a copy or a checkout can leave older."""
    try:
        last = json.loads(native.MANIFEST.read_text())
    except (OSError, ValueError):
        last = {}
    if any(last.get(key) != value for key, value in recipe.items()):
        _remove_build()
        return
    built = last.get("modules") or {}
    listed = {native.compiled_file(m) for m in digests}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:  # modules taken off the list
        for leftover in native.BUILD.rglob(f"*{suffix}"):
            if leftover not in listed:
                leftover.unlink()
    for module, sha in digests.items():
        if built.get(module) != sha:
            GENERATED.joinpath(*module.split(".")).with_suffix(".c").unlink(missing_ok=True)
            compiled = native.compiled_file(module)
            if compiled is not None:
                compiled.unlink()


def build(jobs: int) -> int:
    try:
        import Cython
        from Cython.Build import cythonize
        from setuptools import setup
    except ImportError as exc:
        print(f"native: cannot compile ({exc}); `make install` installs Cython", file=sys.stderr)
        return 1
    sources = {m: native.source_of(m) for m in native.NATIVE_MODULES}
    digests = {m: native.digest(path) for m, path in sources.items()}
    recipe: dict[str, object] = {
        "cython": Cython.__version__,
        "directives": DIRECTIVES,
        "compile_args": COMPILE_ARGS,
    }
    _forget_changed(digests, recipe)
    native.MANIFEST.unlink(missing_ok=True)  # nothing vouched for until this build ends well
    todo = sum(1 for m in sources if native.compiled_file(m) is None)
    started = time.monotonic()
    os.chdir(ROOT)
    try:
        extensions = cythonize(
            [str(path.relative_to(ROOT)) for path in sources.values()],
            compiler_directives=DIRECTIVES,
            build_dir=str(GENERATED.relative_to(ROOT)),
            nthreads=jobs,
            quiet=True,
        )
        for extension in extensions:
            extension.extra_compile_args = COMPILE_ARGS
        setup(
            name="mmtasks-native",
            ext_modules=extensions,
            script_args=[
                *("-q", "build_ext", "-j", str(jobs), "--build-lib", str(native.BUILD)),
                *("--build-temp", str(OBJECTS)),
            ],
        )
    except (SystemExit, Exception) as exc:  # distutils reports a failed compile as SystemExit
        _remove_build()  # what an earlier build left would only warn, module by module
        print(
            f"native: compiling failed ({exc}). mmtasks runs as pure Python (same results, "
            "slower). To compile: install a C compiler and Python's headers (Debian/Ubuntu: "
            "`apt-get install gcc python3-dev`), then `make native`.",
            file=sys.stderr,
        )
        return 1
    manifest = native.built_for(digests, recipe)
    native.MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    print(
        f"native: compiled {todo} of {len(sources)} modules with Cython in "
        f"{time.monotonic() - started:.0f} s (the rest were current): "
        f"{native.build_summary(native.status())}"
    )
    return 0


def status(check: bool) -> int:
    verdicts = native.status()
    for module, how in verdicts.items():
        if not check or how != "compiled":  # --check names only what is wrong
            print(f"{how:9} {module}")
    print(native.build_summary(verdicts))
    if check and any(v != "compiled" for v in verdicts.values()):
        fix = "unset MMTASKS_PURE" if native.pure_requested() else "run `make native`"
        print(f"native: not every hot module runs compiled: {fix}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="say how each module loads")
    what.add_argument("--check", action="store_true", help="--status; exit 1 unless all compiled")
    what.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles")
    args = parser.parse_args()
    if args.clean:
        return clean()
    if args.status or args.check:
        return status(args.check)
    return build(max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
