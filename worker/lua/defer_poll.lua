-- Move a claimed watch's next poll without counting a poll or an error (its
-- connection's budget was spent or paused). ARGV: prefix, wid, at
local wk = ARGV[1] .. 'watch:' .. ARGV[2]
if redis.call('HGET', wk, 'watching') ~= '1' then return 0 end
redis.call('HSET', wk, 'next_poll_at', ARGV[3])
redis.call('ZADD', ARGV[1] .. 'due', ARGV[3], ARGV[2])
return 1
