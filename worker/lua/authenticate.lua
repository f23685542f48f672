-- The tenant of a token digest, and the token's request budget for this minute.
-- Unknown digests touch nothing. The token's last use is written at most once a
-- minute (for `tokens list`), so a busy token costs one in-script GET, not a write.
-- KEYS: keys.token, keys.token_last_used, keys.token_calls (of the minute of `now`)
-- ARGV: now, requests per minute (0 = no limit)
-- Returns {tenant or false, seconds until the budget renews (0 = within it)}
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local tenant = redis.call('GET', KEYS[1])
if not tenant then return {false, 0} end
local used = tonumber(redis.call('GET', KEYS[2]))
if not used or now - used >= 60 then redis.call('SET', KEYS[2], ARGV[1]) end
if limit <= 0 then return {tenant, 0} end
local window = math.floor(now / 60)
local calls = redis.call('INCR', KEYS[3])
if calls == 1 then redis.call('EXPIRE', KEYS[3], 120) end
if calls > limit then
  return {tenant, math.max(1, math.ceil((window + 1) * 60 - now))}
end
return {tenant, 0}
