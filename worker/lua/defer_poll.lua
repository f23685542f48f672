-- Move a claimed watch's next poll without counting a poll or an error (its
-- connection's budget was spent or paused). KEYS: watch, due; ARGV: wid, at
if redis.call('HGET', KEYS[1], 'watching') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'next_poll_at', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
