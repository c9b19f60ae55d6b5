"""The audit: the exchange, Redis, the ledger and the event stream must tell one story.

`model` holds the report and the independent average-cost fold, `invariants` the checks,
`settle` waits for a quiet fleet, `cli` is `mmtasks audit`.
"""
