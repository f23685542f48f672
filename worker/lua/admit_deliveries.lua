-- Let each endpoint's claimed deliveries through its circuit breaker and throttle,
-- shared by every worker. Per endpoint: none while its circuit is open; one probe when
-- the cool-down is over (half-open); then at most its rate per second (the endpoint's
-- own `rate_limit` field, else the default; 0 = no limit).
-- ARGV: prefix, now, failure threshold (0 = no breaker), default rate, probe lease
--       seconds, then endpoint id / wanted pairs.
-- Returns granted, retry_at ('0' = none held back), rate, reason per endpoint.
local prefix, now = ARGV[1], tonumber(ARGV[2])
local threshold, default_rate, probe_s = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local second = math.floor(now)
local answer = {}
for i = 6, #ARGV, 2 do
  local ek = prefix .. 'ep:' .. ARGV[i]
  local wanted = tonumber(ARGV[i + 1])
  local granted, retry_at, reason = wanted, 0, ''
  local health = redis.call('HMGET', ek .. ':health', 'failures', 'open_until', 'probe_until')
  local failures = tonumber(health[1] or '0') or 0
  if threshold > 0 and failures >= threshold then
    local open_until = tonumber(health[2] or '0') or 0
    local probe_until = tonumber(health[3] or '0') or 0
    if open_until > now then
      granted, retry_at, reason = 0, open_until, 'circuit open'
    elseif probe_until > now then
      granted, retry_at, reason = 0, probe_until, 'circuit probing'
    else
      redis.call('HSET', ek .. ':health', 'probe_until', now + probe_s)
      granted, retry_at, reason = math.min(wanted, 1), now + probe_s, 'circuit probing'
    end
  end
  local rate = tonumber(redis.call('HGET', ek, 'rate_limit') or '') or default_rate
  if granted > 0 and rate > 0 then
    local bucket = ek .. ':sent:' .. second
    local used = tonumber(redis.call('GET', bucket) or '0')
    local allowed = math.max(0, math.min(granted, rate - used))
    if allowed > 0 then
      redis.call('INCRBY', bucket, allowed)
      redis.call('EXPIRE', bucket, 5)
    end
    if allowed < wanted and reason == '' then
      retry_at, reason = second + 1, 'rate limited'
    end
    granted = allowed
  end
  answer[#answer + 1] = granted
  answer[#answer + 1] = tostring(retry_at)
  answer[#answer + 1] = rate
  answer[#answer + 1] = reason
end
return answer
