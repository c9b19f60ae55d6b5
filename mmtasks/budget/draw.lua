-- Draw from a venue's rate budget: every bucket of the call at once, or none.
-- KEYS: pause, then one hash per bucket (fields tokens, ts).
-- ARGV: per bucket, four numbers: capacity, refill per ms, cost, reserve (tokens that must
-- stay in the bucket after this draw: what higher priorities keep for themselves).
-- Redis's own clock (TIME), never a caller's. Returns {1, 0} granted; {0, wait_ms} not now;
-- {-1, pause_ms} the venue is paused for everyone.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = redis.call('PTTL', KEYS[1])
if pause > 0 then
  return {-1, pause}
end
local n = #KEYS - 1
local tokens = {}
local wait = 0
for i = 1, n do
  local cap = tonumber(ARGV[(i - 1) * 4 + 1])
  local rate = tonumber(ARGV[(i - 1) * 4 + 2])
  local cost = tonumber(ARGV[(i - 1) * 4 + 3])
  local reserve = tonumber(ARGV[(i - 1) * 4 + 4])
  local h = redis.call('HMGET', KEYS[i + 1], 'tokens', 'ts')
  local have = tonumber(h[1]) or cap
  local ts = tonumber(h[2]) or now
  if now > ts then
    have = math.min(cap, have + (now - ts) * rate)
  end
  tokens[i] = have
  -- A call dearer than what the bucket can hold waits for a full one (the reserve kept), then
  -- takes its whole cost: the bucket goes below zero and later calls wait for the difference.
  local short = math.min(cost, cap - reserve) + reserve - have
  if short > 0 then
    local w = math.ceil(short / rate)
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return {0, wait}
end
for i = 1, n do
  local cost = tonumber(ARGV[(i - 1) * 4 + 3])
  redis.call('HSET', KEYS[i + 1], 'tokens', string.format('%.6f', tokens[i] - cost), 'ts', now)
  redis.call('PEXPIRE', KEYS[i + 1], 600000)
end
return {1, 0}
