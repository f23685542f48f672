-- Record one delivery attempt and decide what the outbox does next; keep the partition's
-- index of failing deliveries. The endpoint's side (its health and failed index, in the
-- endpoint's own slot) is record_endpoint_attempt, sent beside this one.
-- KEYS: delivery, its attempts, stats, outbox, failing (of the delivery's partition)
-- ARGV: delivery id, attempt json, outcome ('succeeded'|'retry'|'failed'),
--       next_attempt_at ('' unless retry), now, failing_kept
-- Returns the outcome, 'gone' when the delivery expired (nothing is recorded then).
local dk, attempts_key, stats, outbox, failing = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local did, attempt, outcome, next_at, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', dk) == 0 then return 'gone' end
redis.call('RPUSH', attempts_key, attempt)
redis.call('EXPIRE', attempts_key, redis.call('TTL', dk))
redis.call('HINCRBY', dk, 'attempts', 1)
redis.call('HINCRBY', dk, 'round_attempts', 1)
redis.call('HSET', dk, 'last_attempt_at', now, 'deferred', '')
redis.call('HINCRBY', stats, 'attempts_' .. outcome, 1)
if outcome == 'retry' then
  redis.call('HSET', dk, 'state', 'pending', 'next_attempt_at', next_at)
  redis.call('ZADD', outbox, next_at, did)
else
  redis.call('HSET', dk, 'state', outcome, 'next_attempt_at', '')
  redis.call('ZREM', outbox, did)
end
if outcome == 'succeeded' then
  redis.call('ZREM', failing, did)
else
  redis.call('ZADD', failing, now, did)
  redis.call('ZREMRANGEBYRANK', failing, 0, -tonumber(ARGV[6]) - 1)
end
return outcome
