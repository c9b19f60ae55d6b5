-- Let go of the symbol lock KEYS[1] held by ARGV[1] (token) unless a wake was left in KEYS[2]
-- while the step ran (take.lua): then keep the lock for ARGV[2] ms, take the wake and tell the
-- holder to drain again. Atomic with take.lua, so a wake is either seen here or finds the lock
-- free. ARGV[2] "0" (a step that failed): release in any case, taking the wake, so the caller
-- sends a task for it instead of draining now.
-- Returns 0 when released with no wake (or the lock is not ours any more), 1 for a wake, 2 for
-- a price wake (the newest price must be read again).
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
local again = redis.call("GET", KEYS[2])
if again then
  redis.call("DEL", KEYS[2])
  if ARGV[2] == "0" then
    redis.call("DEL", KEYS[1])
  else
    redis.call("PEXPIRE", KEYS[1], ARGV[2])
  end
  if again == "price" then
    return 2
  end
  return 1
end
redis.call("DEL", KEYS[1])
return 0
