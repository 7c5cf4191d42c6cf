-- tally: read a queue's tally (see _tally.lua), read only: the newest
-- slots of one of its rings, in order, with the server's time, so that
-- the reader knows which minute or day each place stands for now. Its
-- work is bounded by the ring's size.
--
-- KEYS[1] job.tally:NAME  string
-- ARGV[1] 'minute', 'day' or 'run'
-- ARGV[2] how many slots, the current one last (1 to the ring's size:
--         1440, 90, 60)
-- Returns: {the server's time (ms), the slots' bytes, oldest first (a
--          slot never written reads as zeros)}; for 'run', a third: the
--          totals' bytes.
-- Events:  none.
local key = KEYS[1]
exactly(2)
local ring = one_of(1, 'minute', 'day', 'run')
local size, bits, at, unit = MINUTE_SLOTS, MINUTE_BITS, 0, 60000
if ring == 'day' then
  size, bits, at, unit = DAY_SLOTS, DAY_BITS, DAYS_AT, 86400000
elseif ring == 'run' then
  size, bits, at = RUN_SLOTS, RUN_BITS, RUNS_AT
end
local wanted = whole(2, 1, size)
local now = server_now()
local bytes, from = bits / 8, at / 8

-- Slots first to last of the ring (0-based), padded with zeros where the
-- string is shorter.
local function slots(first, last)
  local piece = redis.call('GETRANGE', key, from + first * bytes, from + (last + 1) * bytes - 1)
  return piece .. string.rep('\0', (last - first + 1) * bytes - #piece)
end

local current = math.floor(now / unit) % size
local oldest = current - wanted + 1
local read
if oldest >= 0 then
  read = slots(oldest, current)
else
  read = slots(size + oldest, size - 1) .. slots(0, current)
end
if ring ~= 'run' then return {now, read} end
local total = redis.call('GETRANGE', key, TOTAL_AT / 8, TALLY_BYTES - 1)
return {now, read, total .. string.rep('\0', (RUN_BUCKETS + 1) * 8 - #total)}
