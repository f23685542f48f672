-- The endpoint's side of an attempt (record_attempt records the delivery's): its run of
-- consecutive failures (health), its index of failed deliveries (what recover resends)
-- and its attempts of the attempt's clock minute by outcome, all in the endpoint's slot.
-- KEYS: the endpoint's failed deliveries, the endpoint's health, its attempts of the
--       attempt's minute
-- ARGV: delivery id, outcome ('succeeded'|'retry'|'failed'), now, attempted ('1' when
--       the endpoint was really tried, '0' for a refused attempt), retention_s, the
--       event's created_at (the caller has it), how long a minute's counts are kept
-- Returns consecutive failures, failing_since ('' when healthy).
local failed_key, hk, minute_key = KEYS[1], KEYS[2], KEYS[3]
local did, outcome, now, attempted = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
if attempted then
  redis.call('HINCRBY', minute_key, outcome == 'succeeded' and 'ok' or 'failed', 1)
  redis.call('EXPIRE', minute_key, ARGV[7])
end
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
