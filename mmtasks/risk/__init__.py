"""Fleet risk: figures across symbols, the fleet state they call for, the per-symbol breaker.

`config`, `figures`, `decide` and `breaker` are pure (no Redis, Postgres or Celery); `store`
persists the fleet's config, state and high-water mark in Postgres; `engine` is the beat
task's I/O around them. See docs/risk.md.
"""
