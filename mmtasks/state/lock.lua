-- Renew (ARGV[2] = ttl ms) or release (ARGV[2] = "0") the lock KEYS[1] if ARGV[1] still owns it.
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == "0" then
  redis.call("DEL", KEYS[1])
else
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 1
