"""Celery tasks: thin adapters that load state, call the core, apply its actions."""
