-- Record one successful poll of a watched batch. If the status differs from the
-- last-seen one, add to the history and create the event with its deliveries, all in
-- this one step; the caller's expected previous status guards against a stale read. The
-- poll's signals (progress, expiring, stalled, resumed) are created unless it conflicts.
-- KEYS: watch, its history and events as watches kept them before (expired with it: see
--       finish_watch), due, stats, finished, then each event's keys
--       (see create_event in _events.lua) from KEYS[7]: the status event's, then the
--       signals'
-- ARGV: expected_prev, status, now, next_poll_at ('' = stop polling), snapshot (the raw
--       answer; '' = none to keep), summary (the normalised fields, as a JSON object of
--       hash field to JSON value: store.scripts.summary_fields), retention_s (of a stopped
--       watch), the watch's member of finished, wid, the number of status events (0 or
--       1), the number of signals, then each event's fields (see event_from_argv) from
--       ARGV[12]
-- Counts the poll in stats: polls_<outcome>, and transitions_<normalized status>.
local wk, due, stats = KEYS[1], KEYS[4], KEYS[5]
local expected, status, now, next_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local wid = ARGV[9]
local function counted(outcome)
  redis.call('HINCRBY', stats, 'polls_' .. outcome, 1)
  return outcome
end
if redis.call('HGET', wk, 'watching') ~= '1' then return {counted('stopped')} end
local current = redis.call('HGET', wk, 'status') or ''
redis.call('HSET', wk, 'last_polled_at', now, 'errors', 0, 'backoff_errors', 0)
-- One short field per summary entry, so the hash keeps Redis's compact encoding (every
-- value of 64 bytes or less), and none for an entry that is null (nor for the last
-- error, now past); 'summary' is where watches recorded before kept it whole.
local summary, pairs_, nulls = cjson.decode(ARGV[6]), {}, {'summary', 'last_error'}
for field, value in pairs(summary) do
  if value == 'null' then
    nulls[#nulls + 1] = field
  else
    pairs_[#pairs_ + 1] = field
    pairs_[#pairs_ + 1] = value
  end
end
if #pairs_ > 0 then redis.call('HSET', wk, unpack(pairs_)) end
redis.call('HDEL', wk, unpack(nulls))
if ARGV[5] == '' then  -- the raw answer is kept only while it names a result file
  redis.call('HDEL', wk, 'snapshot')
else
  redis.call('HSET', wk, 'snapshot', ARGV[5])
end
redis.call('HINCRBY', wk, 'polls', 1)
redis.call('HINCRBY', stats, 'polls', 1)
local function reschedule()
  if next_at == '' then
    redis.call('HSET', wk, 'watching', 0, 'next_poll_at', '')
    redis.call('ZREM', due, wid)
  else
    redis.call('HSET', wk, 'next_poll_at', next_at)
    redis.call('ZADD', due, next_at, wid)
  end
end
local function finish_if_stopped()  -- after any event's keys exist, so they expire too
  if next_at == '' then finish_watch(now, ARGV[7], ARGV[8]) end
end
local status_events, signals = tonumber(ARGV[10]), tonumber(ARGV[11])
local k, a = 7, 12  -- the next event's first key and first argument
local created = {}
local function next_event(create)
  local e = event_from_argv(a)
  if create then
    for _, did in ipairs(create_event(k, e)) do created[#created + 1] = did end
  end
  k = k + 5 + #cjson.decode(e.endpoint_ids)  -- event, 4 indexes, one delivery per endpoint
  a = a + 10
end
local function create_signals()
  for _ = 1, signals do next_event(true) end
end
if current == status then
  reschedule()
  for _ = 1, status_events do next_event(false) end  -- another poll recorded the change
  create_signals()
  finish_if_stopped()
  table.insert(created, 1, counted('unchanged'))
  return created
end
if current ~= expected then
  redis.call('HSET', wk, 'next_poll_at', now)
  redis.call('ZADD', due, now, wid)
  return {counted('conflict')}
end
redis.call('HSET', wk, 'status', status, 'status_changed_at', now)
local event_id = status_events > 0 and ARGV[12] or nil
add_history(wk, status, now, event_id)
reschedule()
for _ = 1, status_events do next_event(true) end
create_signals()
finish_if_stopped()
local normalized = summary['s:normalized_status']
normalized = normalized and cjson.decode(normalized)
if type(normalized) == 'string' then
  redis.call('HINCRBY', stats, 'transitions_' .. normalized, 1)
end
table.insert(created, 1, counted('changed'))
return created
