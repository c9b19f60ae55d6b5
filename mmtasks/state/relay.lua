-- Relay a symbol's outbox entries to mm:events exactly once, in event_seq order.
-- KEYS[1] = mm:events, KEYS[2] = {mm:events}:relayed (one cluster slot);
-- ARGV[1] = symbol, ARGV[2] = maxlen, ARGV[3..] = event_seq, JSON [field, value, ...], ...
-- An entry at or below the symbol's relayed seq was relayed before (skipped); one past the
-- next seq means a gap (stop: the caller reads the outbox from the cursor). Returns the cursor.
local cur = tonumber(redis.call("HGET", KEYS[2], ARGV[1]) or "0")
local start = cur
for i = 3, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq == cur + 1 then
    local args = {KEYS[1], "MAXLEN", "~", ARGV[2], "*", "event_seq", tostring(seq)}
    for _, v in ipairs(cjson.decode(ARGV[i + 1])) do args[#args + 1] = v end
    redis.call("XADD", unpack(args))
    cur = seq
  elseif seq > cur + 1 then
    break
  end
end
if cur ~= start then redis.call("HSET", KEYS[2], ARGV[1], cur) end
return cur
