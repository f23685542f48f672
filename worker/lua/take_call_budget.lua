-- Share each provider connection's request budget between every worker: per connection,
-- grant up to `wanted` calls from this second's budget (none while the connection is
-- paused after a 429).
-- KEYS: per connection, its paused_until and its calls counter of the second of `now`
-- ARGV: now, calls per second (0 = no limit), then wanted per connection
-- Returns granted, paused_until per connection.
local now, rps = tonumber(ARGV[1]), tonumber(ARGV[2])
local answer = {}
for i = 3, #ARGV do
  local k = 2 * (i - 3) + 1
  local wanted = tonumber(ARGV[i])
  local paused_until = tonumber(redis.call('GET', KEYS[k]) or '0')
  local granted = wanted
  if paused_until > now then
    granted = 0
  elseif rps > 0 then
    local bucket = KEYS[k + 1]
    local used = tonumber(redis.call('GET', bucket) or '0')
    granted = math.max(0, math.min(wanted, rps - used))
    if granted > 0 then
      redis.call('INCRBY', bucket, granted)
      redis.call('EXPIRE', bucket, 5)
    end
  end
  answer[#answer + 1] = granted
  answer[#answer + 1] = tostring(paused_until)
end
return answer
