-- Store a symbol's newest tick and claim its price task, in one call.
-- KEYS[1] = mm:{s}:tick, KEYS[2] = mm:{s}:price_pending
-- ARGV = price, ts_event_ms, seq, pending ttl s. Returns 1 when the caller must send the
-- price task (no task was pending), else 0: same effect as mmtasks.enqueue.publish_tick.
redis.call("HSET", KEYS[1], "price", ARGV[1], "ts_event_ms", ARGV[2], "seq", ARGV[3])
if redis.call("SET", KEYS[2], "1", "NX", "EX", ARGV[4]) then
  return 1
end
return 0
