"""The web process: a read-only view of the fleet (dashboard, /health, /status, /metrics, /ws)."""
