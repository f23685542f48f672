-- Start watching a batch unless this tenant already watches it (or it already ended).
-- KEYS: watch, its history, its events, the tenant's watches, due
-- ARGV: wid, now, first poll time, then field/value pairs for the hash
-- Returns 1 when created (or restarted after a watch failure), 0 when it already existed.
local wk = KEYS[1]
local wid, now, first_poll = ARGV[1], ARGV[2], ARGV[3]
local watching = redis.call('HGET', wk, 'watching')
if watching == '1' then return 0 end
if watching == '0' and redis.call('HGET', wk, 'watch_failed_at') == false then return 0 end
-- A watch that failed before starts again with its history and events' ids (the fields
-- of _events.lua's add_history and add_watch_event), kept again.
local kept = {}
local stored = redis.call('HGETALL', wk)
for i = 1, #stored, 2 do
  local field = stored[i]
  local prefix = field:sub(1, 2)
  if prefix == 'h:' or prefix == 'e:' or field == 'history' or field == 'events' then
    kept[#kept + 1] = field
    kept[#kept + 1] = stored[i + 1]
  end
end
redis.call('DEL', wk)
if #kept > 0 then redis.call('HSET', wk, unpack(kept)) end
redis.call('PERSIST', KEYS[2])  -- as watches kept their history and events before
redis.call('PERSIST', KEYS[3])
for i = 4, #ARGV, 2 do redis.call('HSET', wk, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', wk, 'watching', 1, 'created_at', now, 'next_poll_at', first_poll, 'polls', 0,
  'errors', 0)
redis.call('ZADD', KEYS[4], now, wid)
redis.call('ZADD', KEYS[5], first_poll, wid)
return 1
