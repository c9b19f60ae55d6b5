-- Take the symbol lock KEYS[1] for ARGV[1] (token) with ARGV[2] ms ttl, or, when another step
-- holds it, leave a wake in KEYS[2] for the holder: it drains again before it lets go, so the
-- caller never waits for the lock (a pool thread is never parked behind a busy symbol).
-- ARGV[3] "price" marks a conflated price wake (the holder then reads the newest tick again);
-- ARGV[4] is how long a wake is kept (ms).
-- Returns {1} when taken; else {0, the lock's remaining ttl in ms, the holder's token}: the
-- holder may have died, so the caller looks again once that ttl has passed (once per holder).
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
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
