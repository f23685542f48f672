-- Forget stopped watches whose retention has run out: their hash, history and event
-- list already expired; drop them from the tenant's index, and drop the tenant's
-- events older than the retention from its event index.
-- ARGV: prefix, now, limit, retention_s. Returns how many watches were forgotten.
local prefix, now = ARGV[1], tonumber(ARGV[2])
local key = prefix .. 'finished'
local done = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, ARGV[3])
local tenants = {}
for _, member in ipairs(done) do
  local wid, tenant = string.match(member, '^(%S+) (.+)$')
  if wid and redis.call('EXISTS', prefix .. 'watch:' .. wid) == 0 then
    redis.call('ZREM', prefix .. 'tenant:' .. tenant .. ':watches', wid)
    tenants[tenant] = true
  end
  redis.call('ZREM', key, member)
end
for tenant, _ in pairs(tenants) do
  redis.call('ZREMRANGEBYSCORE', prefix .. 'tenant:' .. tenant .. ':events', '-inf',
    now - tonumber(ARGV[4]))
end
return #done
