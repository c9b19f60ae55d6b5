-- Append events to a symbol's outbox outside a step (admin changes, failures), atomically.
-- KEYS[1] = mm:{s}:outbox, KEYS[2] = mm:{s}:event_seq; ARGV[1] = maxlen,
-- ARGV[2] = JSON list of events, each a flat [field, value, ...] list. Returns the first seq.
return append_events(KEYS[1], KEYS[2], ARGV[1], cjson.decode(ARGV[2]))
