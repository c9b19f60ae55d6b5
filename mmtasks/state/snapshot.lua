-- The step's snapshot (trading/snapshot.py load_snapshot): every hash of the symbol, the
-- fleet's state, how many fills wait for the ledger, and up to `count` inbox entries past the
-- state's cursor. One call where a pipeline of eleven commands was: the client packs and
-- parses one command instead of eleven. take.lua reads it in the call that takes the lock.
-- k: {state, slots, position, config, candles, tick, fleet, fills_out, signal, health, inbox,
--     price_pending} (store.snapshot_keys); clear: "1" drops the conflation flag first (a
-- price task: a tick landing after this call sends a new task).
-- Returns {state, slots, position, config, candles, tick, fleet_state, fills_out_len,
--          signal, health, inbox}: hashes as flat [field, value, ...] lists, fleet_state ""
--          when unset, inbox as XRANGE rows.
local function read_snapshot(k, clear, count)
  if clear == "1" then
    redis.call("DEL", k[12])
  end
  local out = {}
  for i = 1, 6 do
    out[i] = redis.call("HGETALL", k[i])
  end
  out[7] = redis.call("HGET", k[7], "state") or ""
  out[8] = redis.call("LLEN", k[8])
  out[9] = redis.call("HGETALL", k[9])
  out[10] = redis.call("HGETALL", k[10])
  out[11] = {}
  if count > 0 then
    local cursor = redis.call("HGET", k[1], "last_seq")
    if not cursor or cursor == "" then
      cursor = "0"
    end
    out[11] = redis.call("XRANGE", k[11], "(" .. cursor .. "-0", "+", "COUNT", count)
  end
  return out
end
