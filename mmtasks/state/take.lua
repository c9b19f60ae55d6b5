-- Take the symbol lock KEYS[1] for ARGV[1] (token) with ARGV[2] ms ttl, or, when another step
-- holds it, leave a wake in KEYS[2] for the holder: it drains again before it lets go, so the
-- caller never waits for the lock (a pool thread is never parked behind a busy symbol).
-- ARGV[3] "price" marks a conflated price wake (the holder then reads the newest tick again);
-- ARGV[4] is how long a wake is kept (ms).
-- Returns {1} when taken; else {0, the lock's remaining ttl in ms, the holder's token}: the
-- holder may have died, so the caller looks again once that ttl has passed (once per holder).
--
-- With ARGV[5], an inbox count, the caller passes KEYS[3..8] as a price wake does and then
-- read_snapshot's keys (KEYS[9..20], store.snapshot_keys), and a taken lock answers
-- {1, snapshot} (snapshot.lua), read in the same call: the step's first round trip is this one.
--
-- A price wake also passes KEYS[3..8] = price_pending, tick, band, seq, state, fills_out. When
-- nobody holds the lock and nothing but the price could change the step's decision, the step
-- is not run at all: returns {2} after clearing the price flag (a later tick sends a task
-- again). "Nothing but the price": the newest tick is strictly inside the quiet band the last
-- settled step stored (the grid decides the same anywhere in it; bridge/tick.lua sends no task
-- for such a tick, this catches the ones sent before the band was stored), the inbox holds
-- nothing past the cursor, no wake is waiting, the symbol is ACTIVE, not DEGRADED and owes no
-- reconcile, and no fill waits for the ledger. Bounds compare as numbers as in tick.lua.
if ARGV[3] == "price" and #KEYS >= 8 and redis.call("EXISTS", KEYS[1], KEYS[2]) == 0 then
  local band = redis.call("HMGET", KEYS[5], "lo", "hi")
  local price = tonumber(redis.call("HGET", KEYS[4], "price") or "")
  if price ~= nil and (band[1] or band[2]) then
    local lo, hi = tonumber(band[1] or ""), tonumber(band[2] or "")
    local above = band[1] == "" or (lo ~= nil and price > lo)
    local below = band[2] == "" or (hi ~= nil and price < hi)
    local st = redis.call(
      "HMGET", KEYS[7], "last_seq", "status", "needs_reconcile", "degraded_since_ms"
    )
    local caught_up = tonumber(st[1] or "0") >= tonumber(redis.call("GET", KEYS[6]) or "0")
    local healthy = st[2] == "ACTIVE" and st[3] ~= "1" and (not st[4] or st[4] == "")
    if above and below and caught_up and healthy and redis.call("LLEN", KEYS[8]) == 0 then
      redis.call("DEL", KEYS[3])
      return {2}
    end
  end
end
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  if ARGV[5] then
    local k = {}
    for i = 9, #KEYS do
      k[i - 8] = KEYS[i]
    end
    return {1, read_snapshot(k, ARGV[3] == "price" and "1" or "0", tonumber(ARGV[5]))}
  end
  return {1}
end
if ARGV[3] == "price" then
  redis.call("SET", KEYS[2], "price", "PX", ARGV[4])
else
  redis.call("SET", KEYS[2], "1", "NX", "PX", ARGV[4])
end
local left = redis.call("PTTL", KEYS[1])
if left < 0 then
  left = 0
end
return {0, left, redis.call("GET", KEYS[1]) or ""}
