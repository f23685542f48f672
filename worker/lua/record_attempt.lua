-- Record one delivery attempt and decide what the outbox does next; keep the endpoint's
-- health (run of consecutive failures) and the indexes of failing and failed deliveries.
-- KEYS: delivery, its attempts, stats, outbox, failing, the endpoint's failed
--       deliveries, the endpoint's health, the delivery's event
-- ARGV: delivery id, attempt json, outcome ('succeeded'|'retry'|'failed'),
--       next_attempt_at ('' unless retry), now, attempted ('1' when the endpoint was
--       really tried, '0' for a refused attempt), retention_s, failing_kept
-- Returns outcome, consecutive failures, failing_since ('' when healthy).
local dk, attempts_key, stats, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local failing, failed_key, hk, event_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local did, attempt, outcome, next_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, attempted = ARGV[5], ARGV[6] == '1'
if redis.call('EXISTS', dk) == 0 then return {'gone', 0, ''} end
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
  redis.call('ZREM', failed_key, did)
  redis.call('DEL', hk)
  return {outcome, 0, ''}
end
redis.call('ZADD', failing, now, did)
redis.call('ZREMRANGEBYRANK', failing, 0, -tonumber(ARGV[8]) - 1)
if outcome == 'failed' then
  local created_at = redis.call('HGET', event_key, 'created_at') or now
  redis.call('ZADD', failed_key, created_at, did)
  redis.call('ZREMRANGEBYSCORE', failed_key, '-inf', tonumber(now) - tonumber(ARGV[7]))
  redis.call('EXPIRE', failed_key, ARGV[7])
end
if not attempted then return {outcome, 0, ''} end
local failures = redis.call('HINCRBY', hk, 'failures', 1)
redis.call('HSETNX', hk, 'failing_since', now)
return {outcome, failures, redis.call('HGET', hk, 'failing_since')}
