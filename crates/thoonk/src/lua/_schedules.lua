-- Shared prelude of the schedule scripts: a schedule's record, as
-- job.schedules:NAME keeps it under the schedule's name:
--   REV \0 SPEC \0 ZONE \0 LAST \0 ITEM
-- REV a word that changes whenever the schedule is added or replaced (a
-- fire prepared for the schedule it replaced then does nothing), SPEC
-- `every 60s` or a cron expression, ZONE an IANA zone, LAST the server's
-- time (ms) of its last fire or empty, ITEM what each tick publishes (last:
-- it may hold NULs). The client reads REV, SPEC and ZONE to compute the next
-- tick; the scripts never need more than LAST and ITEM.

-- Most schedules one queue may have: listing them reads them all, and each
-- costs Redis memory (see the README's "Schedules").
local MAX_SCHEDULES = 1000
-- Latest tick taken: 9999-12-31, in ms (exact in a Lua number).
local MAX_TICK = 253402300799999

-- A record's parts: REV, the text REV\0SPEC\0ZONE (what the client reads),
-- LAST, and where ITEM starts; nil for a record not of this shape (another
-- program's).
local function schedule_parts(record)
  local a = string.find(record, '\0', 1, true)
  local b = a and string.find(record, '\0', a + 1, true)
  local c = b and string.find(record, '\0', b + 1, true)
  local d = c and string.find(record, '\0', c + 1, true)
  if not d then return nil end
  return {
    rev = string.sub(record, 1, a - 1),
    head = string.sub(record, 1, c - 1),
    last = string.sub(record, c + 1, d - 1),
    item_at = d + 1,
  }
end

-- ARGV[i] as a schedule's name: 1 to 256 bytes, no NUL; or the call is
-- refused.
local function schedule_name(i)
  local text = ARGV[i]
  if not text or text == '' or #text > 256 or string.find(text, '\0', 1, true) then
    refuse_arg(i, text, 'a schedule name (1 to 256 bytes, no NUL)')
  end
  return text
end

-- ARGV[i] as a part of a record before ITEM: not empty, no NUL; or the
-- call is refused.
local function record_word(i, what)
  local text = ARGV[i]
  if not text or text == '' or string.find(text, '\0', 1, true) then
    refuse_arg(i, text, what .. ' (not empty, no NUL)')
  end
  return text
end
