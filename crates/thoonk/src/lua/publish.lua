-- publish: add jobs to the queue (one or many, all or none).
--
-- KEYS[1] job.ids:NAME        list   available ids; normal LPUSH, priority RPUSH
-- KEYS[2] job.items:NAME      hash   id -> payload
-- KEYS[3] job.publishes:NAME  string publish counter
-- KEYS[4] job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[5] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[6] job.ghosts:NAME     set    ids a retract left in job.ids
-- KEYS[7] job.claimed:NAME    zset   (read: which publish marks are stale)
-- KEYS[8] job.stalled:NAME    set    (read: the same)
-- KEYS[9] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[10] job.marked:NAME    string while no look at the marks is due
-- KEYS[11] job.tally:NAME     string publishes per minute and day (_tally.lua)
-- KEYS[12..] per job in order: job.result:NAME\0ID when its result is to be
--           kept (cleared: an earlier job with the same id may have left
--           one); then job.unique:NAME\0ID when its id was given
-- ARGV[1] channel event.job.publish:NAME
-- ARGV[2] channel event.job.delay:NAME
-- ARGV[3..] per job, six values: id, payload, priority ('1'|'0'), result
--           TTL in seconds ('0': not kept), delay in ms ('0': available
--           now), unique window in ms ('' for a generated id, which no
--           earlier job can have had; '0' for a given id published with
--           no window of its own, which is still refused within an
--           earlier publish's window)
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or 'exists:ID' when an id is already in the queue (or twice
--          in the batch), or 'unique:MS:ID' when an id was published within
--          a unique window that ends in MS ms; then nothing is written.
-- Events:  event.job.publish:NAME per job, then event.job.delay:NAME per job
--          due later; payload: the id.
local ids, items, publishes, awaited, delayed, ghosts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local claimed, stalled, marks, marked, tally_key = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local publish_channel, delay_channel = ARGV[1], ARGV[2]
local count = in_groups(3, 6)
-- (Counters, not #t + 1: the length operator searches the table.)
local job_ids, old_results, unique_keys, unique_at, nr, nu = {}, {}, {}, {}, 0, 0
local next_key = 12
for k = 1, count do
  -- (The checks of _args.lua, called only where the usual value, an id,
  -- '0' or '1', and zeros, does not settle it: a function call per value
  -- would cost a batch more than the rest of its validation.)
  local i = 6 * k - 3
  local id, priority, ttl, delay, unique = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if id == '' then job_id(i) end
  if priority ~= '0' and priority ~= '1' then flag(i + 2) end
  if ttl ~= '0' then
    whole(i + 3, 0, MAX_DURATION / 1000)
    nr = nr + 1
    old_results[nr] = KEYS[next_key]
    next_key = next_key + 1
  end
  if delay ~= '0' then whole(i + 4, 0, MAX_DURATION) end
  if unique ~= '' then
    if unique ~= '0' then whole(i + 5, 1, MAX_DURATION) end
    nu = nu + 1
    unique_keys[nu] = KEYS[next_key]
    unique_at[nu] = k
    next_key = next_key + 1
  end
  job_ids[k] = id
end
if next_key ~= #KEYS + 1 then
  refuse_arg(#KEYS, #KEYS .. ' keys', 'one per kept result and given id after the first 11')
end
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

-- Validate all before writing any: v1 pushed a known id a second time, so
-- one job could be handed out twice. (HMGET of new ids answers nils: cheap.)
local existing = ask_many('HMGET', items, job_ids)
local seen = {}
for k = 1, count do
  local id = job_ids[k]
  if seen[id] or existing[k] then return 'exists:' .. id end
  seen[id] = true
end
-- A given id is refused within the unique window of an earlier publish of
-- it, whether or not that job is still here (one EXISTS for the batch; the
-- windows are looked at one by one only when one is open).
if nu > 0 and count_existing(unique_keys) > 0 then
  for j = 1, nu do
    local left = redis.call('PTTL', unique_keys[j])
    if left >= 0 then return 'unique:' .. left .. ':' .. job_ids[unique_at[j]] end
  end
end

-- (Counters, not #t + 1: the length operator searches the table.)
local item_pairs, back, front, due_pairs, kept_pairs = {}, {}, {}, {}, {}
local nb, nf, nd, nk = 0, 0, 0, 0
-- The server's time, read only when a job is delayed or a mark is due.
local now
for k = 1, count do
  local i = 6 * k - 3
  local id, item, priority, ttl, delay = job_ids[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  item_pairs[2 * k - 1] = id
  item_pairs[2 * k] = item
  if ttl ~= '0' then
    kept_pairs[nk + 1] = id
    kept_pairs[nk + 2] = ttl
    nk = nk + 2
  end
  if delay ~= '0' and tonumber(delay) > 0 then
    now = now or server_now()
    due_pairs[nd + 1] = now + tonumber(delay)
    due_pairs[nd + 2] = id
    nd = nd + 2
  elseif priority == '1' then
    nf = nf + 1
    front[nf] = id
  else
    nb = nb + 1
    back[nb] = id
  end
end

-- No job.published entry, which v1 wrote: nothing (v1 included) reads it,
-- and it cost 111 bytes a job, over a third of a queued job's memory.
-- An id a retract left in a long list as a ghost, published again: the
-- ghost goes first, or the job would be queued twice. The one write here
-- whose cost grows with the queue (LREM reads the list), and a rare one: a
-- retracted id published again before a claim met its ghost.
-- (One EXISTS also says whether a look at the marks is due: job.marked,
-- named twice, counts 2.)
local found = redis.call('EXISTS', marked, marked, ghosts)
local mark_due = found < 2
if found % 2 == 1 then
  local ghosted = ask_many('SMISMEMBER', ghosts, job_ids)
  for k = 1, count do
    if ghosted[k] == 1 then
      redis.call('LREM', ids, 0, job_ids[k])
      redis.call('SREM', ghosts, job_ids[k])
    end
  end
end
call_many('HSET', items, item_pairs)
-- A reused id may find an old job's result: it must not speak for this one.
-- (An awaited mark a v1 worker's finish left behind is harmless: at worst
-- a result is kept that nobody asked for, until its TTL.)
call_many('DEL', nil, old_results)
for j = 1, nu do
  local window = ARGV[6 * unique_at[j] + 2]
  if window ~= '0' then redis.call('SET', unique_keys[j], '1', 'PX', window) end
end
call_many('HSET', awaited, kept_pairs)
call_many('ZADD', delayed, due_pairs)
-- Priority jobs go ahead of the line, unmarked (marks follow the line's
-- order), unless there is no line: then they are all of it.
local alone = nf > 0 and nb == 0 and redis.call('LLEN', ids) == 0
-- In order: each LPUSHed id goes behind the one before, each RPUSHed one
-- in front of it, as one call per job would do.
call_many('LPUSH', ids, back)
call_many('RPUSH', ids, front)
-- (A given id published anew may still carry its earlier job's mark.)
if nu > 0 or (mark_due and (nb > 0 or alone)) then
  now = now or server_now()
  local given = {}
  for j = 1, nu do given[j] = job_ids[unique_at[j]] end
  redate(marks, given, now)
  local line = line_marks(marks, marked, items, claimed, stalled, delayed)
  if nb > 0 then mark_joined(line, back[1], now, mark_due) end
  if alone then mark_joined(line, front[nf], now, mark_due) end
end
for k = 1, count do
  redis.call('PUBLISH', publish_channel, job_ids[k])
end
for i = 2, nd, 2 do
  redis.call('PUBLISH', delay_channel, due_pairs[i])
end
redis.call('INCRBY', publishes, count)
tally(tally_key, now or server_now(), {count, 0, 0, 0, 0})
return remembered('ok')
