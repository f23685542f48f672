-- Start watching a batch unless this tenant already watches it (or it already ended).
-- ARGV: prefix, wid, tenant, now, first poll time, then field/value pairs for the hash
-- Returns 1 when created (or restarted after a watch failure), 0 when it already existed.
local prefix, wid, tenant, now, first_poll = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local wk = prefix .. 'watch:' .. wid
local watching = redis.call('HGET', wk, 'watching')
if watching == '1' then return 0 end
if watching == '0' and redis.call('HGET', wk, 'watch_failed_at') == false then return 0 end
redis.call('DEL', wk)
redis.call('PERSIST', wk .. ':history')  -- a watch that failed before: kept again
redis.call('PERSIST', wk .. ':events')
for i = 6, #ARGV, 2 do redis.call('HSET', wk, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', wk, 'watching', 1, 'created_at', now, 'next_poll_at', first_poll, 'polls', 0,
  'errors', 0)
redis.call('ZADD', prefix .. 'tenant:' .. tenant .. ':watches', now, wid)
redis.call('ZADD', prefix .. 'due', first_poll, wid)
return 1
