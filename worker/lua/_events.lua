-- Shared by the scripts that create events: writes one event and a pending delivery
-- per endpoint, and puts every delivery in the outbox, claimed until lease_until. It
-- comes after _counts.lua, and counts events_created there (its scripts flush_counts).
-- Its keys, from KEYS[k] (scripts.event_keys builds them): event, tenant's events,
-- outbox, stats, the watch's hash (only when the event has a watch), then one
-- delivery hash per endpoint, in the order of endpoint_ids.
-- Event ids are derived (worker/events.py), so the same change can come again while its
-- event is still kept (a status reached twice, a batch watched again): the event and the
-- deliveries it has stay as they are, and only an endpoint without one gets a delivery.
local function endpoint_union(stored, wanted)
  local seen, union = {}, {}
  for _, list in ipairs({cjson.decode(stored), cjson.decode(wanted)}) do
    for _, ep in ipairs(list) do
      if not seen[ep] then seen[ep] = true; union[#union + 1] = ep end
    end
  end
  if #union == 0 then return wanted end
  return cjson.encode(union)
end

-- The packed body (store/bodies.py) in fields body:1 .. body:n of 64 characters at most,
-- so the event hash keeps Redis's compact encoding; written up to 100 fields an HSET
-- (one call per field was most of an event's writes; unpack has a bounded stack).
local function set_body(ek, body)
  local n, fields = 0, {}
  for i = 1, #body, 64 do
    n = n + 1
    fields[#fields + 1] = 'body:' .. n
    fields[#fields + 1] = body:sub(i, i + 63)
    if #fields == 200 then
      redis.call('HSET', ek, unpack(fields))
      fields = {}
    end
  end
  if #fields > 0 then redis.call('HSET', ek, unpack(fields)) end
end

-- A watch keeps its history and its events' ids in its own hash, one short field each
-- (store/watches.py reads them): h:<n> = [status, at, event id or null], n counted by
-- 'history'; e:<event id> = n, counted by 'events'. A watch gone meanwhile gets none.
-- ``watch``: nil (look whether the watch exists, write at once), true (the caller has
-- just found it: write at once), or a watch record_polls has just read, whose writes
-- are gathered in watch.fields for its one HSET: {fields = {...}, history = its
-- 'history' count, events = its 'events' count}.
local function add_history(watch, status, at, event_id)
  local fields, n = watch.fields, watch.history + 1
  watch.history = n
  fields[#fields + 1] = 'history'
  fields[#fields + 1] = n
  fields[#fields + 1] = 'h:' .. n
  fields[#fields + 1] = cjson.encode({status, tonumber(at), event_id or cjson.null})
end

local function add_watch_event(wk, event_id, watch)
  if watch == nil and redis.call('EXISTS', wk) == 0 then return end
  if redis.call('HEXISTS', wk, 'e:' .. event_id) == 1 then return end
  if type(watch) ~= 'table' then
    redis.call('HSET', wk, 'e:' .. event_id, redis.call('HINCRBY', wk, 'events', 1))
    return
  end
  local fields, n = watch.fields, watch.events + 1
  watch.events = n  -- a second event of the poll sets 'events' again, later in the HSET
  fields[#fields + 1] = 'events'
  fields[#fields + 1] = n
  fields[#fields + 1] = 'e:' .. event_id
  fields[#fields + 1] = n
end

-- watch: see add_watch_event (a poll's watch, or nil).
local function create_event(k, e, watch)
  local ek = KEYS[k]
  local stored = redis.call('HGET', ek, 'endpoint_ids')
  if stored then
    redis.call('HSET', ek, 'endpoint_ids', endpoint_union(stored, e.endpoint_ids))
  else
    redis.call('HSET', ek, 'id', e.id, 'tenant', e.tenant, 'batch_id', e.batch_id,
      'type', e.type, 'created_at', e.created_at, 'endpoint_ids', e.endpoint_ids)
    set_body(ek, e.body)
    redis.call('EXPIRE', ek, e.retention_s)
    local tenant_events = KEYS[k + 1]
    redis.call('ZADD', tenant_events, e.created_at, e.id)
    redis.call('ZREMRANGEBYSCORE', tenant_events, '-inf', tonumber(e.created_at) - tonumber(e.retention_s))
    count(KEYS[k + 3], 'events_created')
  end
  local d = k + 4
  if e.watch_id ~= '' then
    add_watch_event(KEYS[d], e.id, watch)
    d = d + 1
  end
  local created = {}
  for i, ep in ipairs(cjson.decode(e.endpoint_ids)) do
    local did = e.id .. ':' .. ep  -- the value keys.delivery_id makes
    local dk = KEYS[d + i - 1]
    if redis.call('EXISTS', dk) == 0 then
      redis.call('HSET', dk, 'id', did, 'event_id', e.id, 'endpoint_id', ep, 'state', 'pending',
        'attempts', 0, 'round_attempts', 0, 'next_attempt_at', e.created_at)
      redis.call('EXPIRE', dk, e.retention_s)
      redis.call('ZADD', KEYS[k + 2], e.lease_until, did)
      created[#created + 1] = did
    end
  end
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
-- its hash (KEYS[k0 + 1]; k0 is 0 unless a call records several watches) expires, and
-- with it the history and event list watches kept before their hash held them
-- (KEYS[k0 + 2 .. k0 + 3], looked for first: a watch registered since has none); its
-- member of ``finished`` (KEYS[k0 + 6]) lets the sweeper drop it from the tenant's index
-- at the same time.
local function finish_watch(now, retention_s, member, k0)
  k0 = k0 or 0
  -- The keys expire at the instant their finished score names (not retention_s from the
  -- server's later clock), so the sweep that takes the member finds them gone and drops
  -- the watch from its tenant's index.
  local forget_at = tonumber(now) + tonumber(retention_s)
  local at_ms = math.floor(forget_at * 1000)
  redis.call('PEXPIREAT', KEYS[k0 + 1], at_ms)
  if redis.call('EXISTS', KEYS[k0 + 2], KEYS[k0 + 3]) > 0 then
    for i = 2, 3 do
      redis.call('PEXPIREAT', KEYS[k0 + i], at_ms)
    end
  end
  redis.call('ZADD', KEYS[k0 + 6], forget_at, member)
end
