-- Shared prelude: the history of finished jobs, which a queue keeps only
-- when its settings say so (keep_finished: the last N; keep_finished_for_ms:
-- those finished in the last T ms; both: a job goes once either says so).
-- finish.lua records and trims it; finished.lua reads it.
--
-- job.finished:NAME  zset id -> finish time (server ms): the order, oldest
--                    first, that trimming pops from
-- job.history:NAME   hash id -> record, 'DURATION\0CANCELS\0WORKER\0' then
--                    '-' (no result), '=' + the result, or '~' + its first
--                    RESULT_KEPT bytes (it was longer)
-- job.keep:NAME      '1' while either setting is set (configure.lua keeps
--                    it), so that a queue keeping nothing learns it from the
--                    EXISTS its finish makes anyway
-- A finish time is not in the record: the zset has it, once.

-- A kept result is for people to read, not a store: bounded.
local RESULT_KEPT = 4096
-- How many records a finish may drop beyond one per job it adds: enough to
-- bring a history back within a lowered bound over a few hundred finishes,
-- few enough that no call takes long.
local TRIM_SLACK = 100

-- The history's bounds, from the queue's settings: how many to keep and
-- for how many ms, each nil when not set (or not a number: data another
-- program wrote must not make a finish fail).
local function history_bounds(config)
  local set = redis.call('HMGET', config, 'keep_finished', 'keep_finished_for_ms')
  return kept_whole(set[1], 1, MAX_COUNT, nil), kept_whole(set[2], 1, MAX_DURATION, nil)
end

-- A finished job's record (see above).
local function history_record(duration, cancels, worker, has_result, result)
  local mark = '='
  if has_result ~= '1' then
    mark, result = '-', ''
  elseif #result > RESULT_KEPT then
    mark, result = '~', string.sub(result, 1, RESULT_KEPT)
  end
  return duration .. '\0' .. cancels .. '\0' .. worker .. '\0' .. mark .. result
end

-- Drops the oldest records beyond `count`, and those finished before
-- now - `age`, at most `budget` of them (the caller's jobs plus
-- TRIM_SLACK): O(1) amortised per finish, and a history far over a bound
-- just lowered shrinks a little at every call, never in one long one.
-- Both bounds drop from the oldest end: one ZPOPMIN does for both.
local function trim_history(finished, history, count, age, now, budget)
  local drop = 0
  if count then drop = redis.call('ZCARD', finished) - count end
  if age and drop < budget then
    local old = redis.call('ZCOUNT', finished, '-inf', '(' .. (now - age))
    if old > drop then drop = old end
  end
  if drop > budget then drop = budget end
  if drop <= 0 then return end
  local popped = redis.call('ZPOPMIN', finished, drop)
  local ids = {}
  for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
  call_many('HDEL', history, ids)
end
