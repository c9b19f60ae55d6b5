-- Let go of the symbol lock KEYS[1] held by ARGV[1] (token) unless a wake was left in KEYS[2]
-- while the step ran (take.lua): then keep the lock, take the wake and tell the holder to drain
-- again. Atomic with take.lua, so a wake is either seen here or finds the lock free.
-- Returns 0 when released (or not ours any more), 1 to drain again, 2 to drain again reading
-- the newest price (a price wake).
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
local again = redis.call("GET", KEYS[2])
if again then
  redis.call("DEL", KEYS[2])
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  if again == "price" then
    return 2
  end
  return 1
end
redis.call("DEL", KEYS[1])
return 0
