-- Record the delivery attempts of one partition, each as it was recorded alone before:
-- the attempt, what the outbox does next, the partition's index of failing deliveries.
-- The endpoints' side (health and failed index, in each endpoint's own slot) is
-- record_endpoint_attempts, sent beside this one.
-- KEYS: stats, outbox, failing (of the partition), then per attempt: its delivery and
--       the delivery's attempts
-- ARGV: now, failing_kept, then per attempt: delivery id, attempt json, outcome
--       ('succeeded'|'retry'|'failed'), next_attempt_at ('' unless retry)
-- Returns each attempt's outcome, 'gone' when its delivery expired (nothing recorded).
local stats, outbox, failing = KEYS[1], KEYS[2], KEYS[3]
local now, failing_kept = ARGV[1], tonumber(ARGV[2])

local function record(dk, attempts_key, did, attempt, outcome, next_at)
  local ttl = redis.call('TTL', dk)
  if ttl == -2 then return 'gone' end  -- no such key
  redis.call('RPUSH', attempts_key, attempt)
  redis.call('EXPIRE', attempts_key, ttl)
  local attempts, round_attempts = unpack(redis.call('HMGET', dk, 'attempts', 'round_attempts'))
  count(stats, 'attempts_' .. outcome)
  local state = outcome == 'retry' and 'pending' or outcome
  redis.call('HSET', dk, 'attempts', (tonumber(attempts) or 0) + 1,
    'round_attempts', (tonumber(round_attempts) or 0) + 1, 'last_attempt_at', now,
    'deferred', '', 'state', state, 'next_attempt_at', next_at)
  if outcome == 'retry' then
    redis.call('ZADD', outbox, next_at, did)
  else
    redis.call('ZREM', outbox, did)
  end
  if outcome == 'succeeded' then
    redis.call('ZREM', failing, did)
  else
    redis.call('ZADD', failing, now, did)
    redis.call('ZREMRANGEBYRANK', failing, 0, -failing_kept - 1)
  end
  return outcome
end

local outcomes = {}
for i = 0, (#KEYS - 3) / 2 - 1 do
  local k, a = 4 + 2 * i, 3 + 4 * i
  outcomes[i + 1] = record(KEYS[k], KEYS[k + 1], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
flush_counts()
return outcomes
