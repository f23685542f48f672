-- Pause every poll of a connection until a time, never shortening a longer pause.
-- KEYS: the connection's paused_until; ARGV: until (Unix s), now
local key = KEYS[1]
local current = tonumber(redis.call('GET', key) or '0')
local wanted = tonumber(ARGV[1])
if wanted <= current then return 0 end
redis.call('SET', key, ARGV[1], 'PX', math.ceil((wanted - tonumber(ARGV[2])) * 1000) + 1000)
return 1
