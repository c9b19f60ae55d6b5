"""Operator commands of `mmtasks`: admin tasks sent and answered, the ledger read directly.

Each admin command sends the same task as `celery -A mmtasks call mmtasks.admin.<name>`, waits
for its answer and prints it as a table (or as JSON with --json). Exit status: 0 done,
1 refused (`ok: false`, nothing changed), 3 a service or the control worker did not answer.

`transport` reaches Redis, Postgres and the control worker; `render` prints answers;
`commands` turns arguments into calls; `parser` builds the subcommands.
"""
