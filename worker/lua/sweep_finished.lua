-- Forget stopped watches whose retention has run out: their hash, history and event
-- list already expired; drop them from the tenant's index, and drop the tenants'
-- events older than the retention from their event indexes. The caller read the due
-- members of finished; each is checked again here, so one restarted since stays. One
-- whose hash Redis still holds (the caller's clock ahead of Redis's, as another host's
-- may be) keeps its member for a later sweep: no watch stays in its tenant's index
-- after its hash is gone.
-- KEYS: finished, then per member its watch and its tenant's watches, then the
--       tenants' event indexes
-- ARGV: now, retention_s, member count, then per member the member and its watch id
-- Returns how many watches were forgotten.
local finished, now, count = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[3])
local forgotten = 0
for i = 1, count do
  local member, wid = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local score = tonumber(redis.call('ZSCORE', finished, member) or '')
  if score and score <= now then
    local watching = redis.call('HGET', KEYS[2 * i], 'watching')
    if watching == false then  -- expired: forgotten
      redis.call('ZREM', KEYS[2 * i + 1], wid)
      redis.call('ZREM', finished, member)
      forgotten = forgotten + 1
    elseif watching == '1' then  -- watched again since: it stays in the index
      redis.call('ZREM', finished, member)
    end
  end
end
for k = 2 * count + 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - tonumber(ARGV[2]))
end
return forgotten
