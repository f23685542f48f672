-- Pause every poll of a connection until a time, never shortening a longer pause; count
-- the pauses that begin (not those that only grow) on the connection, while it exists.
-- KEYS: the connection's paused_until, the connection, its pauses record
-- ARGV: until (Unix s), now
local key, conn, pauses = KEYS[1], KEYS[2], KEYS[3]
local current = tonumber(redis.call('GET', key) or '0')
local wanted, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if wanted <= current then return 0 end
redis.call('SET', key, ARGV[1], 'PX', math.ceil((wanted - now) * 1000) + 1000)
if current <= now and redis.call('EXISTS', conn) == 1 then
  redis.call('HINCRBY', pauses, 'count', 1)
  redis.call('HSET', pauses, 'last_at', ARGV[2])
end
return 1
