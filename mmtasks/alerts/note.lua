-- Note one alert. KEYS: count, scheduled, gate, items.
-- ARGV: gather_ms, margin_ms, alert JSON ({title, body, severity}), urgent (1/0), max_items.
-- The alert joins the key's list in order, stamped with Redis's clock; one identical to the
-- newest entry only counts on it (a burst of the same alert is one line with its count).
-- Returns {delay_ms, token}: the caller schedules the send after delay_ms, passing token; or
-- -1 when a send that will carry this alert is already scheduled. An urgent alert ignores the
-- rate limit's gate, and brings forward a send scheduled for later than its gather time.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = 86400000
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], day)
local item = cjson.decode(ARGV[3])
local newest = redis.call('LINDEX', KEYS[4], -1)
local merged = false
if newest then
  local prev = cjson.decode(newest)
  if prev.title == item.title and prev.body == item.body and prev.severity == item.severity then
    prev.n = prev.n + 1
    prev.last_ms = now
    redis.call('LSET', KEYS[4], -1, cjson.encode(prev))
    merged = true
  end
end
if not merged then
  item.n = 1
  item.first_ms = now
  item.last_ms = now
  redis.call('RPUSH', KEYS[4], cjson.encode(item))
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
end
redis.call('PEXPIRE', KEYS[4], day)
local gather = tonumber(ARGV[1])
local delay = gather
if ARGV[4] ~= '1' then
  local gate = redis.call('PTTL', KEYS[3])
  if gate > delay then delay = gate end
end
local scheduled = redis.call('GET', KEYS[2])
if scheduled then
  local due = tonumber(scheduled)
  if due == nil or due <= now + delay then
    return -1
  end
end
local token = tostring(now + delay)
redis.call('SET', KEYS[2], token, 'PX', delay + tonumber(ARGV[2]))
return {delay, token}
