-- Append one event to a symbol's inbox with the next seq, atomically.
-- KEYS[1] = mm:{s}:seq, KEYS[2] = mm:{s}:inbox; ARGV[1] = maxlen, ARGV[2] = event JSON.
-- The stream entry id is "<seq>-0", so the inbox is ordered by seq and a reader resumes
-- with XRANGE inbox (<cursor> +.
local seq = redis.call("INCR", KEYS[1])
redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[1], seq .. "-0", "e", ARGV[2])
return seq
