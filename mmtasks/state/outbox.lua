-- Shared by commit.lua and emit.lua (prepended to both when they are loaded).
-- Append events to an outbox with ids "<event_seq>-0"; return the first seq. A counter that
-- fell behind the stream (its key deleted by hand) is moved past it: XADD never fails here.
-- The counter is a key of its own (mm:{s}:event_seq), not a field of the symbol's state.
local function append_events(outbox, counter, maxlen, events)
  if #events == 0 then return 0 end
  local seq = tonumber(redis.call("GET", counter) or "0")
  local last = redis.call("XREVRANGE", outbox, "+", "-", "COUNT", 1)
  if #last > 0 then
    local last_seq = tonumber(string.match(last[1][1], "^(%d+)-"))
    if last_seq > seq then seq = last_seq end
  end
  local start = seq + 1
  for _, fields in ipairs(events) do
    seq = seq + 1
    local args = {outbox, "MAXLEN", "~", maxlen, seq .. "-0", "event_seq", tostring(seq)}
    for _, v in ipairs(fields) do args[#args + 1] = v end
    redis.call("XADD", unpack(args))
  end
  redis.call("SET", counter, seq)
  return start
end
