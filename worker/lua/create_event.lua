-- Create an event outside the poll path (webhook.test).
-- KEYS: the event's keys (see create_event in _events.lua); ARGV: the event fields
local created = create_event(1, event_from_argv(1))
flush_counts()
return created
