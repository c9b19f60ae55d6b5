-- The step's snapshot in one call (trading/snapshot.py load_snapshot): every hash of the
-- symbol, the fleet's state, how many fills wait for the ledger, and up to ARGV[2] inbox
-- entries past the state's cursor. One script where a pipeline of eleven commands was: the
-- client packs and parses one command instead of eleven.
-- KEYS: state slots position config candles tick fleet fills_out signal health inbox
--       price_pending
-- ARGV: "1" to drop the conflation flag first (a price task: a tick landing after this call
--       sends a new task), inbox count (0: no inbox read)
-- Returns {state, slots, position, config, candles, tick, fleet_state, fills_out_len,
--          signal, health, inbox}: hashes as flat [field, value, ...] lists, fleet_state ""
--          when unset, inbox as XRANGE rows.
if ARGV[1] == "1" then
  redis.call("DEL", KEYS[12])
end
local out = {}
for i = 1, 6 do
  out[i] = redis.call("HGETALL", KEYS[i])
end
out[7] = redis.call("HGET", KEYS[7], "state") or ""
out[8] = redis.call("LLEN", KEYS[8])
out[9] = redis.call("HGETALL", KEYS[9])
out[10] = redis.call("HGETALL", KEYS[10])
out[11] = {}
local count = tonumber(ARGV[2])
if count > 0 then
  local cursor = redis.call("HGET", KEYS[1], "last_seq")
  if not cursor or cursor == "" then
    cursor = "0"
  end
  out[11] = redis.call("XRANGE", KEYS[11], "(" .. cursor .. "-0", "+", "COUNT", count)
end
return out
