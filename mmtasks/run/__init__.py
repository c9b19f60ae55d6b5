"""`python -m mmtasks.run`: the whole fleet on the simulated exchange, with a live status table.

Starts (in order) Redis and Postgres (embedded under .data/run when REDIS_URL / DATABASE_URL
are unset), the registry migrations and seed, the simulated connector on a random walk, the
symbol workers (ceil(symbols / 32) processes of 8 threads, mmtasks/assign.py), the control
worker, beat and the bridge, then sends each symbol its
`init`. Every child runs in its own process group with its log under .data/run/logs/;
Ctrl-C, SIGTERM or the end of --seconds stops them all (SIGTERM, then SIGKILL for stragglers).

Every URL the runner and its children use comes from one `Settings`, resolved once here and
passed down: to children as explicit environment variables, to this process's Celery app by
`make_app(settings)`, and to other commands (`celery -A mmtasks call ...`, `mmtasks ...`) through
the services file `<data-dir>/services.json`, removed again on exit.

The package: `supervisor` (arguments, main, the watch loop), `children` (processes: the
connector, workers, control, beat, bridge, web), `symbols` (the config file, the registry seed,
each symbol's init), `table` (the status table).
"""
