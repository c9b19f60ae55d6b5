-- Take the alerts of one key for sending. KEYS: count, scheduled, gate, items.
-- ARGV: window_ms, token (the scheduled send's; '' from a send scheduled before tokens).
-- Returns {count, items...}; a count > 0 closes the gate for window_ms (the rate limit). A send
-- whose token is no longer the scheduled one was superseded (an urgent alert brought the send
-- forward): it takes nothing, the scheduled one carries what is there.
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {0}
end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local items = redis.call('LRANGE', KEYS[4], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
if n > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
end
local out = {n}
for i = 1, #items do
  out[i + 1] = items[i]
end
return out
