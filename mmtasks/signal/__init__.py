"""The signal strategy kind as pure stages: candles -> indicators -> regime -> signal ->
validation -> execution, with no Celery, Redis or gRPC. `pipeline.step` is the one entry point;
docs/strategy.md ("The signal kind") describes the config, the rule language and the events.
"""
