-- Share each provider connection's request budget between every worker: per connection,
-- grant up to `wanted` calls from this second's budget (none while the connection is
-- paused after a 429). ARGV: prefix, now, calls per second (0 = no limit), then
-- connection id / wanted pairs. Returns granted, paused_until per connection.
local prefix, now, rps = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local second = math.floor(now)
local answer = {}
for i = 4, #ARGV, 2 do
  local ck = prefix .. 'conn:' .. ARGV[i]
  local wanted = tonumber(ARGV[i + 1])
  local paused_until = tonumber(redis.call('GET', ck .. ':paused_until') or '0')
  local granted = wanted
  if paused_until > now then
    granted = 0
  elseif rps > 0 then
    local bucket = ck .. ':calls:' .. second
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
