"""Adapters around the pure grid core: load state, apply events, execute actions, commit."""
