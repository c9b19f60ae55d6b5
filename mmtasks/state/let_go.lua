-- Let go of the symbol lock `lock` held by `token` unless a wake was left in `again` while the
-- step ran (take.lua): then keep the lock for ttl_ms, take the wake and tell the holder to
-- drain again. Atomic with take.lua, so a wake is either seen here or finds the lock free.
-- ttl_ms "0" (a step that failed): release in any case, taking the wake, so the caller sends a
-- task for it instead of draining now.
-- Returns 0 when released with no wake (or the lock is not ours any more), 1 for a wake, 2 for
-- a price wake (the newest price must be read again).
-- A library: store.py calls it as LET_GO_LUA (KEYS lock, again; ARGV token, ttl) and after a
-- fenced commit in the same call (COMMIT_LET_GO_LUA).
local function let_go(lock, again_key, token, ttl_ms)
  if redis.call("GET", lock) ~= token then
    return 0
  end
  local again = redis.call("GET", again_key)
  if again then
    redis.call("DEL", again_key)
    if ttl_ms == "0" then
      redis.call("DEL", lock)
    else
      redis.call("PEXPIRE", lock, ttl_ms)
    end
    if again == "price" then
      return 2
    end
    return 1
  end
  redis.call("DEL", lock)
  return 0
end
