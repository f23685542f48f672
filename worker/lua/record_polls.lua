-- Record successful polls of watched batches, each as it was recorded alone before: if
-- the status differs from the last-seen one, add to the history and create the event with
-- its deliveries, all in this one step; the caller's expected previous status guards
-- against a stale read. The poll's signals (progress, expiring, stalled, resumed) are
-- created unless it conflicts. Every poll of one call is in one partition.
-- KEYS: per poll, one after the other: watch, its history and events as watches kept
--       them before (expired with it: see finish_watch), due, stats, finished, then each
--       event's keys (see create_event in _events.lua): the status event's, then the
--       signals'
-- ARGV: per poll: the number of its KEYS, the number of its arguments, then these:
--       expected_prev, status, now, next_poll_at ('' = stop polling), snapshot (the raw
--       answer; '' = none to keep), summary (the normalised fields, as a JSON object of
--       hash field to JSON value: store.scripts.summary_fields), retention_s (of a
--       stopped watch), the watch's member of finished, wid, the number of status events
--       (0 or 1), the number of signals, then each event's fields (see event_from_argv)
-- Returns per poll: its outcome, then the ids of the deliveries it created.
-- Counts each poll in stats: polls_<outcome>, and transitions_<normalized status>.
local function record_poll(k0, a0)  -- KEYS[k0 + 1 ..], ARGV[a0 + 1 ..]: one poll's
  local wk, due, stats = KEYS[k0 + 1], KEYS[k0 + 4], KEYS[k0 + 5]
  local expected, status, now, next_at = ARGV[a0 + 1], ARGV[a0 + 2], ARGV[a0 + 3], ARGV[a0 + 4]
  local wid = ARGV[a0 + 9]
  local function counted(outcome)
    count(stats, 'polls_' .. outcome)
    return outcome
  end
  local watching, current, polls, history, events =
    unpack(redis.call('HMGET', wk, 'watching', 'status', 'polls', 'history', 'events'))
  if watching ~= '1' then return {counted('stopped')} end
  current = current or ''
  -- Every field the poll sets on the watch is gathered in watch.fields and set in one HSET
  -- (with what add_history and add_watch_event add), all it drops in one HDEL.
  -- One short field per summary entry, so the hash keeps Redis's compact encoding (every
  -- value of 64 bytes or less), and none for an entry that is null (nor for the last
  -- error, now past); 'summary' is where watches recorded before kept it whole. The raw
  -- answer is kept only while it names a result file.
  local watch = {
    fields = {'last_polled_at', now, 'errors', 0, 'backoff_errors', 0,
      'polls', (tonumber(polls) or 0) + 1},
    history = tonumber(history) or 0,
    events = tonumber(events) or 0,
  }
  local fields = watch.fields
  local function set(field, value)
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  local summary = cjson.decode(ARGV[a0 + 6])
  local nulls = {'summary', 'last_error'}
  for field, value in pairs(summary) do
    if value == 'null' then nulls[#nulls + 1] = field else set(field, value) end
  end
  if ARGV[a0 + 5] == '' then nulls[#nulls + 1] = 'snapshot' else set('snapshot', ARGV[a0 + 5]) end
  count(stats, 'polls')
  local function write_watch()
    redis.call('HSET', wk, unpack(fields))
    redis.call('HDEL', wk, unpack(nulls))
  end
  local function reschedule()
    if next_at == '' then
      set('watching', 0)
      set('next_poll_at', '')
      redis.call('ZREM', due, wid)
    else
      set('next_poll_at', next_at)
      redis.call('ZADD', due, next_at, wid)
    end
  end
  local function finish_if_stopped()  -- after any event's keys exist, so they expire too
    if next_at == '' then finish_watch(now, ARGV[a0 + 7], ARGV[a0 + 8], k0) end
  end
  local status_events, signals = tonumber(ARGV[a0 + 10]), tonumber(ARGV[a0 + 11])
  local k, a = k0 + 7, a0 + 12  -- the next event's first key and first argument
  local created = {}
  local function next_event(create)
    local e = event_from_argv(a)
    if create then
      for _, did in ipairs(create_event(k, e, watch)) do created[#created + 1] = did end
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
    write_watch()
    finish_if_stopped()
    table.insert(created, 1, counted('unchanged'))
    return created
  end
  if current ~= expected then
    set('next_poll_at', now)
    write_watch()
    redis.call('ZADD', due, now, wid)
    return {counted('conflict')}
  end
  set('status', status)
  set('status_changed_at', now)
  local event_id = status_events > 0 and ARGV[a0 + 12] or nil
  add_history(watch, status, now, event_id)
  reschedule()
  for _ = 1, status_events do next_event(true) end
  create_signals()
  write_watch()
  finish_if_stopped()
  local normalized = summary['s:normalized_status']
  normalized = normalized and cjson.decode(normalized)
  if type(normalized) == 'string' then
    count(stats, 'transitions_' .. normalized)
  end
  table.insert(created, 1, counted('changed'))
  return created
end

local answers, keys_done, args_done = {}, 0, 0
while args_done < #ARGV do
  local key_count, arg_count = tonumber(ARGV[args_done + 1]), tonumber(ARGV[args_done + 2])
  answers[#answers + 1] = record_poll(keys_done, args_done + 2)
  keys_done, args_done = keys_done + key_count, args_done + 2 + arg_count
end
flush_counts()
return answers
