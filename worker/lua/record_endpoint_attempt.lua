-- The endpoint's side of an attempt (record_attempt records the delivery's): its run of
-- consecutive failures (health) and its index of failed deliveries (what recover
-- resends), both in the endpoint's slot.
-- KEYS: the endpoint's failed deliveries, the endpoint's health
-- ARGV: delivery id, outcome ('succeeded'|'retry'|'failed'), now, attempted ('1' when
--       the endpoint was really tried, '0' for a refused attempt), retention_s, the
--       event's created_at (the caller has it)
-- Returns consecutive failures, failing_since ('' when healthy).
local failed_key, hk = KEYS[1], KEYS[2]
local did, outcome, now, attempted = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
if outcome == 'succeeded' then
  redis.call('ZREM', failed_key, did)
  redis.call('DEL', hk)
  return {0, ''}
end
if outcome == 'failed' then
  redis.call('ZADD', failed_key, ARGV[6], did)
  redis.call('ZREMRANGEBYSCORE', failed_key, '-inf', tonumber(now) - tonumber(ARGV[5]))
  redis.call('EXPIRE', failed_key, ARGV[5])
end
if not attempted then return {0, ''} end
local failures = redis.call('HINCRBY', hk, 'failures', 1)
redis.call('HSETNX', hk, 'failing_since', now)
return {failures, redis.call('HGET', hk, 'failing_since')}
