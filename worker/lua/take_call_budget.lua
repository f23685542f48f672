-- Share each provider connection's request budget between every worker: per connection,
-- grant up to `wanted` calls from this second's budget (none while the connection is
-- paused after a 429), and, with `queue` set, give the calls it must wait for a place in
-- the connection's queue: one slot per call, `rps` slots per second, after every slot
-- given before (to any worker). While that queue reaches into this second or later, the
-- granted calls take slots too, behind it: a batch polled now waits behind those kept
-- waiting, wherever they were claimed, so every batch gets its turn.
-- KEYS: per connection, its paused_until, its calls counter of the second of `now`, and
--       its queue's last slot
-- ARGV: now, calls per second (0 = no limit), queue (1/0), then wanted per connection
-- Returns granted, paused_until, first slot (-1: none) per connection.
local now, rps, queue = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local second = math.floor(now)
local answer = {}
for i = 4, #ARGV do
  local k = 3 * (i - 4) + 1
  local wanted = tonumber(ARGV[i])
  local paused_until = tonumber(redis.call('GET', KEYS[k]) or '0')
  local granted = wanted
  local first = -1
  if paused_until > now then
    granted = 0
  elseif rps > 0 then
    local bucket = KEYS[k + 1]
    local used = tonumber(redis.call('GET', bucket) or '0')
    granted = math.max(0, math.min(wanted, rps - used))
    if granted > 0 then
      redis.call('INCRBY', bucket, granted)
      redis.call('EXPIRE', bucket, 5)
    end
    if queue then
      local last = tonumber(redis.call('GET', KEYS[k + 2]) or '-1')
      if granted < wanted or last >= second * rps then
        first = math.max((second + 1) * rps, last + 1)
        last = first + wanted - 1
        local ttl = math.floor(last / rps) - second + 5
        redis.call('SET', KEYS[k + 2], string.format('%.0f', last), 'EX', ttl)
      end
    end
  end
  answer[#answer + 1] = granted
  answer[#answer + 1] = tostring(paused_until)
  answer[#answer + 1] = first
end
return answer
