# One entry point for people and CI. `make help` lists the targets.
PY ?= .venv/bin/python
VENV_STAMP = .venv/.installed

.PHONY: help install native pure lock bench-run budget-fleet hooks audit lint format types test test-fast test-step test-props chaos multihost soak proto proto-check bench run clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Installs exactly what requirements.lock pins (hash-checked); nothing is resolved here, so a new
# release on the package index changes nothing until `make lock` is run and committed.
$(VENV_STAMP): requirements.lock requirements-pip.lock pyproject.toml
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --require-hashes -r requirements-pip.lock
	.venv/bin/python -m pip install -q --require-hashes -r requirements.lock
	.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	.venv/bin/python scripts/native.py || echo "native: pure Python (see the message above)"
	touch $(VENV_STAMP)

install: $(VENV_STAMP)  ## create .venv and install exactly what requirements.lock pins; compile the hot modules

native: install  ## compile the replay's hot modules again with Cython (after editing one; mmtasks/native.py)
	$(PY) scripts/native.py

pure:  ## remove the compiled modules: replays run from source too (MMTASKS_PURE=1 does it for one run)
	$(PY) scripts/native.py --clean

lock: install  ## re-resolve pyproject.toml's ranges into the lock files (a reviewed commit; ARGS="-P ccxt")
	bash scripts/lock.sh $(ARGS)

hooks: install  ## install the pre-commit hooks (ruff, YAML/TOML, whitespace, proto check) in this clone
	.venv/bin/pre-commit install

audit: lint types  ## lint, types, every pre-commit hook on all files, and a dependency vulnerability scan
	.venv/bin/pre-commit run --all-files --show-diff-on-failure
	bash scripts/audit-deps.sh

lint: install  ## ruff lint + format check, and the layers of the house (import-linter, pyproject.toml)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check mmtasks bridge tests bench chaos scripts
	.venv/bin/lint-imports --no-cache

format: install  ## apply ruff formatting and safe fixes
	.venv/bin/ruff format mmtasks bridge tests bench chaos scripts
	.venv/bin/ruff check --fix .

types: install  ## mypy on mmtasks and bridge (generated code excluded)
	.venv/bin/mypy

proto: install  ## regenerate mmtasks/pb from proto/
	bash scripts/protogen.sh

proto-check: install  ## fail when committed mmtasks/pb does not match proto/
	bash scripts/protogen.sh --check

# Tests run in TEST_JOBS processes (pytest-xdist): most of a fleet test's time is spent waiting
# for its processes, so two halve the wall time on two cores. Each process reserves its own
# Redis database (tests/conftest.py) and each test its own Postgres schema. A file's tests stay
# in one process (--dist loadfile): its module fixtures (a fleet, a browser) are built once, and
# its tests run in their order. TEST_JOBS=0: one process.
TEST_JOBS ?= 2
XDIST = -n $(TEST_JOBS) --dist loadfile

test: install proto-check  ## the whole suite on real Redis, Postgres, gRPC and Celery workers; the core's tests again compiled
	-@$(PY) scripts/native.py >/dev/null  # recompile what changed since the last build (seconds)
	$(PY) -m pytest -q $(XDIST)
	MMTASKS_COMPILED=1 $(PY) -m pytest -q $(XDIST) tests/grid tests/props tests/unit tests/replay \
	  --ignore tests/replay/test_live_equals_replay.py --ignore tests/replay/test_breaker_live_equals_replay.py

test-fast: install  ## pure unit tests only
	$(PY) -m pytest -q tests/unit tests/sim tests/props

test-step: install  ## the worker step in process on a SimVenue (real Redis and Postgres): seconds
	$(PY) -m pytest -q tests/step

test-props: install  ## the grid core's Hypothesis properties, 2,000 examples each
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/props

chaos: install  ## the chaos suite on a private fleet (ARGS="--trials 10" etc.)
	$(PY) -m chaos $(ARGS)

multihost: install  ## (root) the fleet on three network-namespace hosts: a host killed, cut off, workers frozen, the bridge killed
	$(PY) -m chaos.multihost $(ARGS)

soak: install  ## a long run under an accelerated feed: memory growth, Redis per symbol, invariants (ARGS="--minutes 60 --speed 10 --symbols 8")
	$(PY) -m chaos.soak $(ARGS)

bench: install  ## benchmarks that print figures
	$(PY) bench/bench_connector.py
	$(PY) bench/bench_worker.py
	$(PY) bench/bench_bridge.py
	$(PY) bench/bench_replay.py --repeat 1
	$(PY) bench/bench_web.py
	$(PY) bench/bench_budget.py
	$(PY) bench/bench_venue.py

bench-run: install  ## make run as a user starts it, measured: tick->order p50/p99 over a window, workers' PSS (ARGS="--symbols 64")
	$(PY) bench/bench_run.py $(ARGS)

budget-fleet: install  ## the rate budget at scale: 64 symbols, 2 connector replicas, a minute of moves, a ban
	$(PY) bench/bench_budget_fleet.py $(ARGS)

run: install  ## run the whole fleet on the simulated exchange (embedded Redis/Postgres if no URLs)
	-@$(PY) scripts/native.py >/dev/null  # recompile what changed since the last build (seconds)
	$(PY) -m mmtasks.run $(ARGS)

clean:  ## remove local data and caches (and the generated C; `make pure` removes the build)
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache build/cython
