-- list: one page of the jobs in a state, with their payloads, cancel
-- counts and last reasons, read in one consistent snapshot (read only).
--
-- KEYS[1] job.ids:NAME        list   available, in the order they will be claimed
-- KEYS[2] job.claimed:NAME    zset   claimed, by claim (or last extension) time
-- KEYS[3] job.stalled:NAME    set    stalled, by id
-- KEYS[4] job.delayed:NAME    zset   delayed, by due time
-- KEYS[5] job.items:NAME      hash
-- KEYS[6] job.cancelled:NAME  hash
-- KEYS[7] job.reasons:NAME    hash
-- ARGV[1] state: 'available' | 'claimed' | 'stalled' | 'delayed'
-- ARGV[2] offset (>= 0)
-- ARGV[3] limit (>= 1)
-- Returns: flat list of id, payload, times cancelled, reason ('' if none)
--          per job.
-- Events:  none.
local ids, claimed, stalled, delayed, items, cancelled, reasons = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
exactly(3)
local state = one_of(1, 'available', 'claimed', 'stalled', 'delayed')
local offset, limit = whole(2, 0, MAX_COUNT), whole(3, 1, MAX_COUNT)

local page
if state == 'available' then
  -- Claims take from the right, so the next job is the last element.
  local slice = redis.call('LRANGE', ids, -(offset + limit), -(offset + 1))
  page = {}
  for i = #slice, 1, -1 do page[#page + 1] = slice[i] end
elseif state == 'claimed' then
  page = redis.call('ZRANGE', claimed, offset, offset + limit - 1)
elseif state == 'stalled' then
  page = redis.call('SORT', stalled, 'ALPHA', 'LIMIT', offset, limit)
elseif state == 'delayed' then
  page = redis.call('ZRANGE', delayed, offset, offset + limit - 1)
else
  return redis.error_reply('unknown state ' .. state)
end

local out = {}
for _, id in ipairs(page) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', items, id) or ''
  out[#out + 1] = redis.call('HGET', cancelled, id) or '0'
  out[#out + 1] = redis.call('HGET', reasons, id) or ''
end
return out
