-- Let each endpoint's claimed deliveries through its circuit breaker and throttle,
-- shared by every worker. Per endpoint: none while its circuit is open; one probe when
-- the cool-down is over (half-open); then at most its rate per second (the endpoint's
-- own `rate_limit` field, else the default; 0 = no limit).
-- KEYS: per endpoint, its hash, its health and its sent counter of the second of `now`
-- ARGV: now, failure threshold (0 = no breaker), default rate, probe lease seconds,
--       then wanted per endpoint
-- Returns granted, retry_at ('0' = none held back), rate, reason per endpoint.
local now = tonumber(ARGV[1])
local threshold, default_rate, probe_s = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local second = math.floor(now)
local answer = {}
for i = 5, #ARGV do
  local k = 3 * (i - 5) + 1
  local ek, hk, bucket = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local wanted = tonumber(ARGV[i])
  local granted, retry_at, reason = wanted, 0, ''
  local health = redis.call('HMGET', hk, 'failures', 'open_until', 'probe_until')
  local failures = tonumber(health[1] or '0') or 0
  if threshold > 0 and failures >= threshold then
    local open_until = tonumber(health[2] or '0') or 0
    local probe_until = tonumber(health[3] or '0') or 0
    if open_until > now then
      granted, retry_at, reason = 0, open_until, 'circuit open'
    elseif probe_until > now then
      granted, retry_at, reason = 0, probe_until, 'circuit probing'
    else
      redis.call('HSET', hk, 'probe_until', now + probe_s)
      granted, retry_at, reason = math.min(wanted, 1), now + probe_s, 'circuit probing'
    end
  end
  local rate = tonumber(redis.call('HGET', ek, 'rate_limit') or '') or default_rate
  if granted > 0 and rate > 0 then
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
