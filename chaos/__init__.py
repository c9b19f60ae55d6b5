"""The chaos suite: a private fleet, faults injected on purpose, and the invariant checker.

`python -m chaos --help` runs the scenarios; `mmtasks.audit.invariants` is the checker
the suite and the tests share. See docs/chaos.md.
"""
