-- Record one delivery attempt and decide what the outbox does next.
-- ARGV: prefix, delivery id, attempt json, outcome ('succeeded'|'retry'|'failed'),
--       next_attempt_at ('' unless retry), now
local prefix, did, attempt, outcome, next_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local dk = prefix .. 'delivery:' .. did
if redis.call('EXISTS', dk) == 0 then return 'gone' end
redis.call('RPUSH', dk .. ':attempts', attempt)
redis.call('EXPIRE', dk .. ':attempts', redis.call('TTL', dk))
redis.call('HINCRBY', dk, 'attempts', 1)
redis.call('HINCRBY', dk, 'round_attempts', 1)
redis.call('HSET', dk, 'last_attempt_at', ARGV[6])
redis.call('HINCRBY', prefix .. 'stats', 'attempts_' .. outcome, 1)
if outcome == 'retry' then
  redis.call('HSET', dk, 'state', 'pending', 'next_attempt_at', next_at)
  redis.call('ZADD', prefix .. 'outbox', next_at, did)
else
  redis.call('HSET', dk, 'state', outcome, 'next_attempt_at', '')
  redis.call('ZREM', prefix .. 'outbox', did)
end
return outcome
