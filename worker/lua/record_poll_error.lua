-- Record a poll that did not return a batch. A retryable error only moves the next poll;
-- a permanent one (unknown batch, revoked key) stops the watch and creates one
-- batch.watch_failed event.
-- KEYS: watch, its history, its events, due, stats, finished, then the event's keys
--       (see create_event in _events.lua) from KEYS[7] when permanent
-- ARGV: now, next_poll_at ('' = stop, permanent), error text, not_found_since (first
--       404 still within its grace, or ''), retention_s (of a stopped watch), the
--       watch's member of finished, wid, backs_off ('1': the error grows the batch's
--       back-off; '0': a 429 with Retry-After), then the event fields from ARGV[9] when
--       permanent
-- Counts the poll in stats: polls_<outcome>.
local wk, due, stats = KEYS[1], KEYS[4], KEYS[5]
local now, next_at, err, wid = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local function counted(outcome)  -- the one count of a call, so written at once
  redis.call('HINCRBY', stats, 'polls_' .. outcome, 1)
  return outcome
end
if redis.call('HGET', wk, 'watching') ~= '1' then return {counted('stopped')} end
redis.call('HSET', wk, 'last_polled_at', now, 'last_error', err, 'not_found_since', ARGV[4])
redis.call('HINCRBY', wk, 'errors', 1)
if ARGV[8] == '1' then redis.call('HINCRBY', wk, 'backoff_errors', 1) end
redis.call('HINCRBY', stats, 'poll_errors', 1)
if next_at ~= '' then
  redis.call('HSET', wk, 'next_poll_at', next_at)
  redis.call('ZADD', due, next_at, wid)
  return {counted('retry')}
end
redis.call('HSET', wk, 'watching', 0, 'next_poll_at', '', 'watch_failed_at', now)
redis.call('ZREM', due, wid)
local created = create_event(7, event_from_argv(9), true)
flush_counts()
finish_watch(now, ARGV[5], ARGV[6])
table.insert(created, 1, counted('failed'))
return created
