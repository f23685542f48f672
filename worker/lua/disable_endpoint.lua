-- Disable an endpoint once: returns 1 if this call disabled it, 0 if it already was
-- (or is gone), so only one worker emits endpoint.disabled.
-- ARGV: prefix, endpoint id, reason, now
local ek = ARGV[1] .. 'ep:' .. ARGV[2]
if redis.call('EXISTS', ek) == 0 or redis.call('HGET', ek, 'disabled') == '1' then return 0 end
redis.call('HSET', ek, 'disabled', 1, 'disabled_reason', ARGV[3], 'disabled_at', ARGV[4])
return 1
