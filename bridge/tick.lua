-- Store a symbol's newest tick and claim its price task, in one call.
-- KEYS[1] = mm:{s}:tick, KEYS[2] = mm:{s}:price_pending, KEYS[3] = mm:{s}:band
-- ARGV = price, ts_event_ms, seq, pending ttl s. Returns 1 when the caller must send the
-- price task (no task was pending), else 0: same effect as mmtasks.enqueue.publish_tick.
-- A price strictly inside the symbol's quiet band (written by its last settled step: the grid
-- decides the same anywhere in it) sends no task; the tick is stored all the same. The bounds
-- are compared as numbers only to find such ticks: prices of up to 15 significant digits keep
-- their order as doubles, and a tick on a bound (closed or not) always sends its task.
redis.call("HSET", KEYS[1], "price", ARGV[1], "ts_event_ms", ARGV[2], "seq", ARGV[3])
local band = redis.call("HMGET", KEYS[3], "lo", "hi")
if band[1] or band[2] then
  local price = tonumber(ARGV[1])
  local lo, hi = tonumber(band[1] or ""), tonumber(band[2] or "")
  local above = band[1] == "" or (lo ~= nil and price > lo)
  local below = band[2] == "" or (hi ~= nil and price < hi)
  if price ~= nil and above and below then
    return 0
  end
end
if redis.call("SET", KEYS[2], "1", "NX", "EX", ARGV[4]) then
  return 1
end
return 0
