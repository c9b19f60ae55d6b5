-- Add one step's figures to the metrics hashes in one command: KEYS[1] the all-time hash,
-- KEYS[2] the current minute's (it expires ARGV[1] seconds later). ARGV[2..] are triples
-- (where: "a" all-time only or "b" both, field, increment; an increment with a "." is a float).
for i = 2, #ARGV, 3 do
  local field, by = ARGV[i + 1], ARGV[i + 2]
  local keys = {KEYS[1]}
  if ARGV[i] == "b" then
    keys[2] = KEYS[2]
  end
  for _, key in ipairs(keys) do
    if string.find(by, ".", 1, true) then
      redis.call("HINCRBYFLOAT", key, field, by)
    else
      redis.call("HINCRBY", key, field, by)
    end
  end
end
if redis.call("EXISTS", KEYS[2]) == 1 then
  redis.call("EXPIRE", KEYS[2], ARGV[1])
end
return 1
