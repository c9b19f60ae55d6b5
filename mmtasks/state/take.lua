-- Take the symbol lock KEYS[1] for ARGV[1] (token) with ARGV[2] ms ttl, or, when another step
-- holds it, leave a wake in KEYS[2] for the holder: it drains again before it lets go, so the
-- caller never waits for the lock (a pool thread is never parked behind a busy symbol).
-- ARGV[3] "price" marks a conflated price wake (the holder then reads the newest tick again);
-- ARGV[4] is how long a wake is kept (ms).
-- The holder may have died (its lock then expires unanswered): the first caller to leave a
-- wake while no recheck is pending (KEYS[3]) is told the lock's remaining ttl, to look again
-- once it has passed (a delayed task); the holder that lets go normally makes that a no-op.
-- Returns {1} when taken, {0, 0} when the wake was left, {0, ms} when it was left and the
-- caller should look again in ms.
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  redis.call("DEL", KEYS[3])  -- a new holder: a wake behind it schedules a look of its own
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
if redis.call("SET", KEYS[3], "1", "NX", "PX", left + 1000) then
  return {0, left}
end
return {0, 0}
