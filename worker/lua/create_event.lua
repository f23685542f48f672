-- Create an event outside the poll path (webhook.test).
-- ARGV: prefix, then the event fields from ARGV[2]
local created = create_event(ARGV[1], event_from_argv(2))
return created
