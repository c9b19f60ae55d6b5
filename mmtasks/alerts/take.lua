-- Take the alerts of one key for sending. KEYS: count, scheduled, gate, items.
-- ARGV: window_ms, token (the scheduled send's; '' from a send scheduled before tokens).
-- Returns {count, items...}; a count > 0 closes the gate for window_ms (the rate limit). A send
-- whose token is no longer the scheduled one was superseded (an urgent alert brought the send
-- forward): it takes nothing, the scheduled one carries what is there. A send that finds no
-- scheduled one at all runs late (its task came back after the control worker died, or waited
-- in a backlog past the key's margin): nobody else will carry what is there, so it does.
if ARGV[2] ~= '' then
  local scheduled = redis.call('GET', KEYS[2])
  if scheduled and scheduled ~= ARGV[2] then
    return {0}
  end
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
