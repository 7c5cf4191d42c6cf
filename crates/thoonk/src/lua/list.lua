-- list: one page of the jobs in a state, with their payloads, cancel
-- counts, last reasons and progress, read in one consistent snapshot
-- (read only).
-- Its work is bounded by the page asked for, whatever the queue's size.
--
-- KEYS[1] job.ids:NAME        list   available, in the order they will be claimed
-- KEYS[2] job.claimed:NAME    zset   claimed, by claim (or last extension) time
-- KEYS[3] job.stalled:NAME    set    stalled, in no order (SSCAN: a set has
--                                    none that a page could start from)
-- KEYS[4] job.delayed:NAME    zset   delayed, by due time
-- KEYS[5] job.items:NAME      hash
-- KEYS[6] job.cancelled:NAME  hash
-- KEYS[7] job.reasons:NAME    hash
-- KEYS[8] job.progress:NAME   hash   (read for claimed jobs)
-- ARGV[1] state: 'available' | 'claimed' | 'stalled' | 'delayed'
-- ARGV[2] where the page starts: an offset, or for stalled jobs an SSCAN
--         cursor ('0' for the first page either way)
-- ARGV[3] limit (>= 1); for stalled jobs, SSCAN's COUNT: a page may hold
--         a few more or fewer, and one before the last may be empty
-- ARGV[4] the most payload bytes read per job: a larger payload is not
--         read at all (a dashboard's listing shows 160 characters of it;
--         reading 20 MB to show them held Redis for 400 ms per page), only
--         its size (HSTRLEN, O(1)). Redis has no range read of a hash
--         field, so it is all of a payload or none.
-- Returns: where the next page starts ('' after the last), then id,
--          payload ('' when over ARGV[4]), its size in bytes, times
--          cancelled, reason ('' if none), progress ('' if none; only
--          claimed jobs have one) per job.
-- Events:  none.
local ids, claimed, stalled, delayed, items, cancelled, reasons, progress =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
exactly(4)
local state = one_of(1, 'available', 'claimed', 'stalled', 'delayed')
local limit = whole(3, 1, MAX_COUNT)
local most = whole(4, 0, MAX_COUNT)

local page, next
if state == 'stalled' then
  -- (An SSCAN cursor is an unsigned 64-bit number, kept as Redis wrote it.)
  if not string.match(ARGV[2], '^%d+$') then refuse_arg(2, ARGV[2], 'an SSCAN cursor') end
  local scan = redis.call('SSCAN', stalled, ARGV[2], 'COUNT', limit)
  page = scan[2]
  next = scan[1] ~= '0' and scan[1] or ''
else
  local offset = whole(2, 0, MAX_COUNT)
  if state == 'available' then
    -- Claims take from the right, so the next job is the last element.
    local slice = redis.call('LRANGE', ids, -(offset + limit), -(offset + 1))
    page = {}
    for i = #slice, 1, -1 do page[#page + 1] = slice[i] end
  elseif state == 'claimed' then
    page = redis.call('ZRANGE', claimed, offset, offset + limit - 1)
  else
    page = redis.call('ZRANGE', delayed, offset, offset + limit - 1)
  end
  next = #page == limit and tostring(offset + limit) or ''
end

-- Bounded, the sizes first, then one read of the payloads within the
-- bound; unbounded (no payload is larger than MAX_COUNT), one read, each
-- payload's length its size. Then three more for the page, not three per
-- job.
local page_items, sizes = {}, {}
if most == MAX_COUNT then
  page_items = ask_many('HMGET', items, page)
  for k = 1, #page do sizes[k] = page_items[k] and #page_items[k] or 0 end
else
  local small = {}
  for k, id in ipairs(page) do
    sizes[k] = redis.call('HSTRLEN', items, id)
    if sizes[k] <= most then small[#small + 1] = id end
  end
  local read, r = ask_many('HMGET', items, small), 0
  for k = 1, #page do
    if sizes[k] <= most then
      r = r + 1
      page_items[k] = read[r]
    else
      page_items[k] = ''
    end
  end
end
local counts = ask_many('HMGET', cancelled, page)
local why = ask_many('HMGET', reasons, page)
local reported = state == 'claimed' and ask_many('HMGET', progress, page) or {}
local out = {next}
for k, id in ipairs(page) do
  -- (A ghost a retract left in job.ids is no job: it has no item.)
  if page_items[k] then
    out[#out + 1] = id
    out[#out + 1] = page_items[k]
    out[#out + 1] = tostring(sizes[k])
    out[#out + 1] = counts[k] or '0'
    out[#out + 1] = why[k] or ''
    out[#out + 1] = reported[k] or ''
  end
end
return out
