-- The tenant of a token digest, and the token's request budget for this minute.
-- Unknown digests touch nothing. The token's last use is written at most once a
-- minute (for `tokens list`), so a busy token costs one in-script GET, not a write.
-- Key layout: keys.token, keys.token_last_used and keys.token_calls.
-- ARGV: prefix, token digest, now, requests per minute (0 = no limit)
-- Returns {tenant or false, seconds until the budget renews (0 = within it)}
local prefix, digest, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local tk = prefix .. 'token:' .. digest
local tenant = redis.call('GET', tk)
if not tenant then return {false, 0} end
local used = tonumber(redis.call('GET', tk .. ':used'))
if not used or now - used >= 60 then redis.call('SET', tk .. ':used', ARGV[3]) end
if limit <= 0 then return {tenant, 0} end
local window = math.floor(now / 60)
local ck = tk .. ':calls:' .. window
local calls = redis.call('INCR', ck)
if calls == 1 then redis.call('EXPIRE', ck, 120) end
if calls > limit then
  return {tenant, math.max(1, math.ceil((window + 1) * 60 - now))}
end
return {tenant, 0}
