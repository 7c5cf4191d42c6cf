-- finished: a page of the finished jobs a queue keeps, newest first, or
-- one of them, read in one consistent snapshot (read only). Its work is
-- bounded by the page asked for, whatever the history's size.
--
-- KEYS[1] job.finished:NAME  zset   id -> finish time (ms)
-- KEYS[2] job.history:NAME   hash   id -> record (see _history.lua)
-- KEYS[3] job.config:NAME    hash   (read: keep_finished_for_ms: a job
--                                   older is not shown, though no finish
--                                   has trimmed it yet)
-- ARGV[1] 'page' or 'job'
-- For 'page': ARGV[2] offset (0 for the first page), ARGV[3] limit (>= 1).
-- For 'job':  ARGV[2] the job's id.
-- Returns: where the next page starts ('' after the last, and for 'job'),
--          then per job kept: id, finish time (ms, as Redis prints a
--          score), record.
-- Events:  none.
local finished, history, config = KEYS[1], KEYS[2], KEYS[3]
exactly(one_of(1, 'page', 'job') == 'page' and 3 or 2)

-- The oldest finish time still within keep_finished_for: finishes trim
-- the history, but a queue that stops finishing keeps its last records
-- until its next finish.
local _, age = history_bounds(config)
local since = age and server_now() - age or 0

local page, times, next = {}, {}, ''
if ARGV[1] == 'job' then
  local id = job_id(2)
  local at = redis.call('ZSCORE', finished, id)
  if at and tonumber(at) >= since then page[1], times[1] = id, at end
else
  local offset = whole(2, 0, MAX_COUNT)
  local limit = whole(3, 1, MAX_COUNT)
  local scored = redis.call('ZRANGE', finished, '+inf', since, 'BYSCORE', 'REV', 'LIMIT', offset, limit, 'WITHSCORES')
  for i = 1, #scored, 2 do
    page[#page + 1], times[#times + 1] = scored[i], scored[i + 1]
  end
  next = #page == limit and tostring(offset + limit) or ''
end

local records = ask_many('HMGET', history, page)
local out = {next}
for k, id in ipairs(page) do
  -- (Both keys change together; a record missing is no kept job.)
  if records[k] then
    out[#out + 1] = id
    out[#out + 1] = times[k]
    out[#out + 1] = records[k]
  end
end
return out
