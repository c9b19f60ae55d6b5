"""Compile mmtasks' hot modules with Cython, in place, from their own source (`make native`).

    python scripts/native.py           compile every module of mmtasks.native.NATIVE_MODULES
    python scripts/native.py --status  which modules run compiled, stale (edited since) or pure
    python scripts/native.py --check   the same; exit 1 unless every one runs compiled
    python scripts/native.py --clean   remove the build: every module runs from its source

The extension modules land beside their sources (mmtasks/grid/logic.cpython-311-*.so beside
logic.py; git ignores them), the generated C under build/cython, and mmtasks/_native.json records
the SHA-256 of each source compiled, so an edited module runs from its source until it is
compiled again (mmtasks/native.py). Plain Python semantics: annotations are not used as C types,
so a compiled module accepts exactly what its source does.

Without a C compiler or Python's headers the build fails with what to install, and `make install`
goes on: mmtasks then runs as pure Python, with the same results, slower.
"""

from __future__ import annotations

import argparse
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


def clean() -> int:
    removed = 0
    for module in native.NATIVE_MODULES:
        built = native.compiled_file(module)
        if built is not None:
            built.unlink()
            removed += 1
    native.MANIFEST.unlink(missing_ok=True)
    shutil.rmtree(ROOT / "build" / "cython", ignore_errors=True)
    print(f"removed {removed} compiled modules: every hot module runs from its source")
    return 0


def build(jobs: int) -> int:
    try:
        from Cython.Build import cythonize
        from setuptools import setup
    except ImportError as exc:
        print(f"native: cannot compile ({exc}); `make install` installs Cython", file=sys.stderr)
        return 1
    sources = {m: native.source_of(m) for m in native.NATIVE_MODULES}
    digests = {m: native.digest(path) for m, path in sources.items()}
    started = time.monotonic()
    os.chdir(ROOT)
    # Generated C draws the compiler's warnings by the hundred; a failure still says why.
    os.environ["CFLAGS"] = f"{os.environ.get('CFLAGS', '')} -w".strip()
    try:
        extensions = cythonize(
            [str(path.relative_to(ROOT)) for path in sources.values()],
            compiler_directives=DIRECTIVES,
            build_dir="build/cython",
            nthreads=jobs,
            quiet=True,
        )
        setup(
            name="mmtasks-native",
            ext_modules=extensions,
            script_args=["-q", "build_ext", "--inplace", "-j", str(jobs)],
        )
    except (SystemExit, Exception) as exc:  # distutils reports a failed compile as SystemExit
        native.MANIFEST.unlink(missing_ok=True)
        print(
            f"native: compiling failed ({exc}). mmtasks runs as pure Python (same results, "
            "slower). To compile: install a C compiler and Python's headers (Debian/Ubuntu: "
            "`apt-get install gcc python3-dev`), then `make native`.",
            file=sys.stderr,
        )
        return 1
    native.MANIFEST.write_text(json.dumps(native.built_for(digests), indent=1) + "\n")
    print(
        f"native: compiled {len(sources)} modules with Cython in "
        f"{time.monotonic() - started:.0f} s ({native.summary()})"
    )
    return 0


def status(check: bool) -> int:
    verdicts = native.status()
    for module, how in verdicts.items():
        print(f"{how:9} {module}")
    print(native.summary(verdicts))
    if check and any(v != "compiled" for v in verdicts.values()):
        print("native: not every hot module runs compiled: run `make native`", file=sys.stderr)
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
