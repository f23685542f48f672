-- Record a poll that did not return a batch. A retryable error only moves the next poll;
-- a permanent one (unknown batch, revoked key) stops the watch and creates one
-- batch.watch_failed event.
-- ARGV: prefix, wid, now, next_poll_at ('' = stop, permanent), error text,
--       not_found_since (first 404 still within its grace, or ''),
--       retention_s (of a stopped watch), then the event fields from ARGV[8] when permanent
-- Counts the poll in stats: polls_<outcome>.
local prefix, wid, now, next_at, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local wk = prefix .. 'watch:' .. wid
local function counted(outcome)
  redis.call('HINCRBY', prefix .. 'stats', 'polls_' .. outcome, 1)
  return outcome
end
if redis.call('HGET', wk, 'watching') ~= '1' then return {counted('stopped')} end
redis.call('HSET', wk, 'last_polled_at', now, 'last_error', err, 'not_found_since', ARGV[6])
redis.call('HINCRBY', wk, 'errors', 1)
redis.call('HINCRBY', prefix .. 'stats', 'poll_errors', 1)
if next_at ~= '' then
  redis.call('HSET', wk, 'next_poll_at', next_at)
  redis.call('ZADD', prefix .. 'due', next_at, wid)
  return {counted('retry')}
end
redis.call('HSET', wk, 'watching', 0, 'next_poll_at', '', 'watch_failed_at', now)
redis.call('ZREM', prefix .. 'due', wid)
local created = create_event(prefix, event_from_argv(8))
finish_watch(prefix, wid, now, ARGV[7])
table.insert(created, 1, counted('failed'))
return created
