-- Fenced, atomic write of a symbol's state.
-- KEYS[1] = the symbol's lock; KEYS[2..n] = every key the ops touch (same hash tag).
-- ARGV[1] = our lock token; ARGV[2] = JSON list of ops, each {op, k (index into KEYS), ...}:
--   {"op":"cas","k":i,"f":field,"v":expected}   abort unless HGET == expected ("" = missing)
--   {"op":"hset","k":i,"m":{field:value}}      {"op":"hdel","k":i,"f":[fields]}
--   {"op":"del","k":i}                           {"op":"rpush","k":i,"v":[values]}
--   {"op":"sadd","k":i,"v":[members]}            {"op":"xadd","k":i,"max":n,"m":{field:value}}
--   {"op":"zadd","k":i,"v":[score,member,...],"cap":n}   add, then keep the n highest scores
--   {"op":"events","k":outbox,"s":counter,"max":n,"v":[[field,value,...],...]}
--        each event gets the next event_seq (the counter mm:{s}:event_seq) as its outbox id
-- Returns the first event_seq assigned (0: none), or an error reply "LOCK_LOST" /
-- "CAS_FAILED <field>" with nothing written.
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return redis.error_reply("LOCK_LOST")
end
local ops = cjson.decode(ARGV[2])
local first = 0
for _, op in ipairs(ops) do
  if op.op == "cas" then
    local cur = redis.call("HGET", KEYS[op.k], op.f)
    if cur == false then cur = "" end
    if cur ~= op.v then
      return redis.error_reply("CAS_FAILED " .. op.f)
    end
  end
end
for _, op in ipairs(ops) do
  local key = KEYS[op.k]
  if op.op == "hset" then
    local args = {}
    for f, v in pairs(op.m) do
      args[#args + 1] = f
      args[#args + 1] = v
    end
    if #args > 0 then redis.call("HSET", key, unpack(args)) end
  elseif op.op == "hdel" then
    if #op.f > 0 then redis.call("HDEL", key, unpack(op.f)) end
  elseif op.op == "del" then
    redis.call("DEL", key)
  elseif op.op == "rpush" then
    if #op.v > 0 then redis.call("RPUSH", key, unpack(op.v)) end
  elseif op.op == "sadd" then
    if #op.v > 0 then redis.call("SADD", key, unpack(op.v)) end
  elseif op.op == "xadd" then
    local args = {key, "MAXLEN", "~", op.max, "*"}
    for f, v in pairs(op.m) do
      args[#args + 1] = f
      args[#args + 1] = v
    end
    redis.call("XADD", unpack(args))
  elseif op.op == "zadd" then
    if #op.v > 0 then
      redis.call("ZADD", key, unpack(op.v))
      redis.call("ZREMRANGEBYRANK", key, 0, -(op.cap + 1))
    end
  elseif op.op == "events" then
    first = append_events(key, KEYS[op.s], op.max, op.v)
  end
end
return first
