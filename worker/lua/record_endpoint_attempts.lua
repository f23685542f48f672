-- One endpoint's side of its attempts (record_attempts records the deliveries'), each as
-- it was recorded alone before, in order: its run of consecutive failures (health), its
-- index of failed deliveries (what recover resends) and its attempts of each attempt's
-- clock minute by outcome, all in the endpoint's slot.
-- KEYS: the endpoint's failed deliveries, its health, then its attempts of each minute
--       the attempts fall in
-- ARGV: now, retention_s, how long a minute's counts are kept, then per attempt:
--       delivery id, outcome ('succeeded'|'retry'|'failed'), attempted ('1' when the
--       endpoint was really tried, '0' for a refused attempt), the event's created_at
--       (the caller has it), the index in KEYS of its minute's key
-- Returns per attempt: consecutive failures after it, failing_since ('' when healthy).
local failed_key, hk = KEYS[1], KEYS[2]
local now, retention_s, minute_ttl = ARGV[1], ARGV[2], ARGV[3]

local minutes = {}  -- the minutes counted in, each given its time to live once
-- The health hash is deleted by a success; further successes of the call find it gone
-- until a failure writes it again.
local health_deleted = false

local function record(did, outcome, attempted, created_at, minute_key)
  if attempted then
    count(minute_key, outcome == 'succeeded' and 'ok' or 'failed')
    minutes[minute_key] = true
  end
  if outcome == 'succeeded' then
    redis.call('ZREM', failed_key, did)
    if not health_deleted then
      redis.call('DEL', hk)
      health_deleted = true
    end
    return {0, ''}
  end
  if outcome == 'failed' then
    redis.call('ZADD', failed_key, created_at, did)
    redis.call('ZREMRANGEBYSCORE', failed_key, '-inf', tonumber(now) - tonumber(retention_s))
    redis.call('EXPIRE', failed_key, retention_s)
  end
  if not attempted then return {0, ''} end
  health_deleted = false
  local failures = redis.call('HINCRBY', hk, 'failures', 1)
  redis.call('HSETNX', hk, 'failing_since', now)
  return {failures, redis.call('HGET', hk, 'failing_since')}
end

local after = {}
for i = 0, (#ARGV - 3) / 5 - 1 do
  local a = 4 + 5 * i
  after[i + 1] = record(ARGV[a], ARGV[a + 1], ARGV[a + 2] == '1', ARGV[a + 3],
    KEYS[tonumber(ARGV[a + 4])])
end
flush_counts()
for minute_key in pairs(minutes) do
  redis.call('EXPIRE', minute_key, minute_ttl)
end
return after
