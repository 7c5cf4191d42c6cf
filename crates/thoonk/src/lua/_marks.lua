-- Shared prelude: when the jobs waiting in job.ids joined the line, known
-- to within a small margin without a time kept per job (a queued job is
-- 185 bytes; a time per job would add a third).
--
-- job.marks:NAME is a zset, id -> the server's time (ms) its job joined
-- the back of the line (published, fell due, retried, or sent back), of
-- one job per spacing at most: the first to join once the spacing has
-- passed since the newest mark. So a job without a mark joined within one
-- spacing after the newest mark of its time: the line's oldest job (the
-- next a claim takes) is dated by its own mark, or by the mark before the
-- oldest mark whose job still waits (claims take jobs in the order they
-- joined). The spacing is a second, or a hundredth of the age of the
-- oldest mark still waiting when that is more: the margin stays within
-- 1 % of the age, and a queue keeps at most about a hundred marks per
-- tenfold of its oldest job's age (some 1,400 for a year), whatever its
-- size.
local MARK_SPACING = 1000
-- Stale marks dropped at most per look (so at most once a second): a
-- drained queue sheds its old marks within seconds of new publishes.
local MARK_DROPS = 100

-- Whether a job waits in job.ids: it exists and is in no other state.
local function waiting(items, claimed, stalled, delayed, id)
  return job_state(items, claimed, stalled, delayed, id) == 'available'
end

-- The keys marking needs, in one table: job.marks:NAME, job.marked:NAME
-- (a string that lives, with a TTL of MARK_SPACING, while no look at the
-- marks is due: so most joins cost marking nothing, or one EXISTS), and
-- the keys that say whether a mark's job still waits.
local function line_marks(marks, marked, items, claimed, stalled, delayed)
  return {marks = marks, marked = marked, items = items, claimed = claimed, stalled = stalled, delayed = delayed}
end

local function waits(line, id)
  return waiting(line.items, line.claimed, line.stalled, line.delayed, id)
end

-- Notes that `id` joined the back of the line at `now` (a number, the
-- server's time) when the spacing has passed since the newest mark; looks
-- at most once a second (job.marked), whoever joins. `due`: whether
-- job.marked was found gone, when the caller asked (publish.lua folds
-- the EXISTS into one it makes anyway); nil: ask. A look also drops stale
-- marks, oldest first, while the one after the oldest no longer waits
-- either (one stale mark stays: it dates the jobs that joined after it),
-- MARK_DROPS at most: a drained queue sheds its old marks within seconds
-- of new joins, and the spacing, reckoned from the oldest mark that
-- waits, shrinks back with them.
local function mark_joined(line, id, now, due)
  if due == nil then due = redis.call('EXISTS', line.marked) == 0 end
  if not due then return end
  local marks = line.marks
  redis.call('SET', line.marked, '1', 'PX', MARK_SPACING)
  local newest = redis.call('ZRANGE', marks, '-1', '-1', 'WITHSCORES')
  if newest[2] then
    local since = now - tonumber(newest[2])
    if since < MARK_SPACING then return end
    local dropped = 0
    while dropped < MARK_DROPS do
      local next_oldest = redis.call('ZRANGE', marks, '1', '1')[1]
      if not next_oldest or waits(line, next_oldest) then break end
      redis.call('ZPOPMIN', marks)
      dropped = dropped + 1
    end
    -- While stale marks are left to drop, there is none to reckon the
    -- spacing from: mark.
    if dropped < MARK_DROPS then
      local oldest = redis.call('ZRANGE', marks, '0', '1', 'WITHSCORES')
      local since_oldest = oldest[2]
      if not waits(line, oldest[1]) then since_oldest = oldest[4] end
      if since_oldest and since * 100 < now - tonumber(since_oldest) then return end
    end
  end
  redis.call('ZADD', marks, now, id)
end

-- Ids that joined the line again, and may carry the mark of an earlier
-- stay (a given id published anew, a job sent back or retried): a mark
-- they have moves to `now`, so that it dates this stay. (Generated ids
-- are new: publish.lua passes only the given ones.)
local function redate(marks, ids, now)
  local n = #ids
  if n == 0 then return end
  local stamped = {}
  for k = 1, n do
    stamped[2 * k - 1] = now
    stamped[2 * k] = ids[k]
  end
  for i = 1, 2 * n, CHUNK do
    redis.call('ZADD', marks, 'XX', unpack(stamped, i, math.min(i + CHUNK - 1, 2 * n)))
  end
end

-- Jobs `ids`, in the order they joined, joined the back of the line
-- again at `now` (fell due, sent back, retried): marks of an earlier stay
-- move to now, and the first may be marked.
local function rejoined(line, ids, now)
  redate(line.marks, ids, now)
  mark_joined(line, ids[1], now)
end

-- How long (ms) the line's oldest job has waited at `now`: 0 when none
-- waits. Bounded: a few reads for the head, and a binary search over the
-- marks (twelve steps for the marks of a year).
local function oldest_wait(ids, items, claimed, stalled, delayed, published, marks, now)
  -- The head of the line, past the ghosts a retract left (a few at most
  -- are looked at; past more, the marks alone date the line).
  local head
  for i = -1, -8, -1 do
    local id = redis.call('LINDEX', ids, i)
    if not id then return 0 end
    if redis.call('HEXISTS', items, id) == 1 then
      head = id
      break
    end
  end
  -- Its own mark, or v1's publish time (a v1 publisher's job).
  local since = head and (redis.call('ZSCORE', marks, head) or redis.call('ZSCORE', published, head))
  if not since then
    local count = redis.call('ZCARD', marks)
    if count == 0 then return 0 end
    -- The oldest mark whose job still waits (count: none does).
    local low, high = 0, count
    while low < high do
      local mid = math.floor((low + high) / 2)
      local id = redis.call('ZRANGE', marks, mid, mid)[1]
      if waiting(items, claimed, stalled, delayed, id) then high = mid else low = mid + 1 end
    end
    -- The head joined after the mark before that one (or, when the oldest
    -- mark still waits, before it: its wait is then at least that mark's).
    local span = math.max(low - 1, 0)
    since = redis.call('ZRANGE', marks, span, span, 'WITHSCORES')[2]
  end
  return math.max(0, now - tonumber(since))
end
