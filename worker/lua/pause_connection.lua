-- Pause every poll of a connection until a time, never shortening a longer pause.
-- ARGV: prefix, connection id, until (Unix s), now
local key = ARGV[1] .. 'conn:' .. ARGV[2] .. ':paused_until'
local current = tonumber(redis.call('GET', key) or '0')
local wanted = tonumber(ARGV[3])
if wanted <= current then return 0 end
redis.call('SET', key, ARGV[3], 'PX', math.ceil((wanted - tonumber(ARGV[4])) * 1000) + 1000)
return 1
