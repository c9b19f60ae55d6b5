"""The stream bridge: connector streams in, validated and sequenced events out.

Layout: `service` runs sessions against the connector (reconnects, reconciles, symbol-set
changes), `convert` validates messages at the edge, `sink` buffers them off the event loop
and `writer` puts each batch into Redis and Celery; `symbols` says which symbols to stream,
`rejects` counts bad messages, `channel` and `backoff` hold connection details.
"""
