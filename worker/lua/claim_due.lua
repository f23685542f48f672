-- Atomically take up to `limit` members of a schedule zset whose time has come and
-- push each one's score to `lease_until`, so no other claimer gets them meanwhile.
-- KEYS[1] schedule zset; ARGV: now, lease_until, limit
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
