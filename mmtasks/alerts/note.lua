-- Note one alert. KEYS: count, scheduled, gate, last. ARGV: gather_ms, margin_ms, last JSON.
-- Returns the delay in ms after which the caller must schedule the send, or -1 when a send of
-- this key is already scheduled (it will carry this alert in its count).
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('SET', KEYS[4], ARGV[3], 'PX', 86400000)
local gate = redis.call('PTTL', KEYS[3])
if gate < 0 then gate = 0 end
local delay = math.max(gate, tonumber(ARGV[1]))
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', delay + tonumber(ARGV[2])) then
  return delay
end
return -1
