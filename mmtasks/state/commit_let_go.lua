-- The step's last write and its let-go in one call: commit.lua's fenced write (run as the
-- function `commit`: KEYS[1] the lock, ARGV[1] our token, ARGV[2] the ops), then, only if it
-- wrote, let_go.lua with the wake key KEYS[#KEYS] and the ttl ARGV[3].
-- Returns commit's error reply with nothing written and the lock kept, else
-- {commit's first event_seq, let_go's answer}.
local first = commit()
if type(first) == "table" then
  return first
end
return {first, let_go(KEYS[1], KEYS[#KEYS], ARGV[1], ARGV[3])}
