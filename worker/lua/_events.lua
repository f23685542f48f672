-- Shared by the scripts that create events: writes one event and a pending delivery
-- per endpoint, and puts every delivery in the outbox, claimed until lease_until.
local function create_event(prefix, e)
  local ek = prefix .. 'event:' .. e.id
  redis.call('HSET', ek, 'id', e.id, 'tenant', e.tenant, 'watch_id', e.watch_id,
    'batch_id', e.batch_id, 'type', e.type, 'created_at', e.created_at, 'body', e.body,
    'endpoint_ids', e.endpoint_ids)
  redis.call('EXPIRE', ek, e.retention_s)
  local tenant_events = prefix .. 'tenant:' .. e.tenant .. ':events'
  redis.call('ZADD', tenant_events, e.created_at, e.id)
  redis.call('ZREMRANGEBYSCORE', tenant_events, '-inf', tonumber(e.created_at) - tonumber(e.retention_s))
  if e.watch_id ~= '' then
    redis.call('RPUSH', prefix .. 'watch:' .. e.watch_id .. ':events', e.id)
  end
  local created = {}
  for _, ep in ipairs(cjson.decode(e.endpoint_ids)) do
    local did = e.id .. ':' .. ep
    local dk = prefix .. 'delivery:' .. did
    redis.call('HSET', dk, 'id', did, 'event_id', e.id, 'endpoint_id', ep, 'state', 'pending',
      'attempts', 0, 'round_attempts', 0, 'next_attempt_at', e.created_at)
    redis.call('EXPIRE', dk, e.retention_s)
    redis.call('ZADD', prefix .. 'outbox', e.lease_until, did)
    created[#created + 1] = did
  end
  redis.call('HINCRBY', prefix .. 'stats', 'events_created', 1)
  return created
end

local function event_from_argv(first)
  return {
    id = ARGV[first], tenant = ARGV[first + 1], watch_id = ARGV[first + 2],
    batch_id = ARGV[first + 3], type = ARGV[first + 4], created_at = ARGV[first + 5],
    body = ARGV[first + 6], endpoint_ids = ARGV[first + 7], retention_s = ARGV[first + 8],
    lease_until = ARGV[first + 9],
  }
end

-- A watch that stopped (terminal status or watch_failed) is kept for retention_s, then
-- its hash, history and event list expire; ``finished`` lets the sweeper drop it from
-- the tenant's index at the same time.
local function finish_watch(prefix, wid, now, retention_s)
  local wk = prefix .. 'watch:' .. wid
  for _, key in ipairs({wk, wk .. ':history', wk .. ':events'}) do
    redis.call('EXPIRE', key, retention_s)
  end
  local tenant = redis.call('HGET', wk, 'tenant')
  redis.call('ZADD', prefix .. 'finished', tonumber(now) + tonumber(retention_s), wid .. ' ' .. tenant)
end
