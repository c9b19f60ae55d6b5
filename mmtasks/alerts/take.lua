-- Take the alerts of one key for sending. KEYS: count, scheduled, gate, last. ARGV: window_ms.
-- Returns {count, last JSON}; a count > 0 closes the gate for window_ms (the rate limit).
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = redis.call('GET', KEYS[4]) or ''
redis.call('DEL', KEYS[1], KEYS[2])
if n > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
end
return {n, last}
