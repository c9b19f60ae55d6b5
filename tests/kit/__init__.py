"""The one test kit: polling, processes, environments, configs, and the bridge's write path.

| module | holds |
|---|---|
| `poll` | `eventually`, the one way a test waits |
| `env` | `fleet_env` (the variables every fleet process gets), `point_app_at` |
| `procs` | `launch`, `stop`, `connector` / `start_connector`, `Worker`, `Workers`, `BridgeProc` |
| `configs` | `GRID` (GRID.md's case table), `NEUTRAL`, `grid_config`, `sim_venue` (rules, fees) |
| `feed` | `publish_tick`, `append_event`, `set_price`, `OrderPump`: in through `bridge.writer` |
| `fixtures` | pytest fixtures of a fleet (ledger, env, workers, venue clients) for a conftest |
| `desk` | `Desk`: one symbol's real worker step run in process on a `SimVenue` |
"""
