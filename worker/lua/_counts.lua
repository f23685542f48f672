-- Counters a call adds to, summed in the script and written once per field at its end
-- (flush_counts, before the script returns): a chunk's 500 polls add 1 to 'polls' once,
-- by 500, instead of 500 times by 1. Every redis.call costs a script about as much as a
-- small command; these were a fifth of a recorded change's calls. Nothing else in the
-- call reads what it counts, and the whole call is one atomic step, so no reader sees the
-- difference.
local counts = {}

local function count(key, field)
  local fields = counts[key]
  if not fields then
    fields = {}
    counts[key] = fields
  end
  fields[field] = (fields[field] or 0) + 1
end

local function flush_counts()
  for key, fields in pairs(counts) do
    for field, n in pairs(fields) do
      redis.call('HINCRBY', key, field, n)
    end
  end
  counts = {}
end
