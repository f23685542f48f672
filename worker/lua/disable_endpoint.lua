-- Disable an endpoint once: returns 1 if this call disabled it, 0 if it already was
-- (or is gone), so only one worker emits endpoint.disabled.
-- KEYS: endpoint; ARGV: reason, now
local ek = KEYS[1]
if redis.call('EXISTS', ek) == 0 or redis.call('HGET', ek, 'disabled') == '1' then return 0 end
redis.call('HSET', ek, 'disabled', 1, 'disabled_reason', ARGV[1], 'disabled_at', ARGV[2])
return 1
