-- Return up to ARGV[1] entries of the inbox KEYS[2] past the cursor (the `last_seq` of the state
-- hash KEYS[1]): the step's first read of its inbox, in the same round trip as its snapshot.
local cursor = redis.call("HGET", KEYS[1], "last_seq")
if not cursor or cursor == "" then
  cursor = "0"
end
return redis.call("XRANGE", KEYS[2], "(" .. cursor .. "-0", "+", "COUNT", ARGV[1])
