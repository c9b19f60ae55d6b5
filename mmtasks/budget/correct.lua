-- The venue said how much of a window is used: never believe we have more than it leaves.
-- KEYS: the bucket hash. ARGV: capacity, refill per ms, window limit, used in the window.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local left = tonumber(ARGV[3]) - tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local have = tonumber(h[1]) or cap
local ts = tonumber(h[2]) or now
if now > ts then
  have = math.min(cap, have + (now - ts) * rate)
end
if left < have then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', left), 'ts', now)
  redis.call('PEXPIRE', KEYS[1], 600000)
  return 1
end
return 0
