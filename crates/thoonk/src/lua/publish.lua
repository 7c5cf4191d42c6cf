-- publish: add jobs to the queue (one or many, all or none).
--
-- KEYS[1] job.ids:NAME        list   available ids; normal LPUSH, priority RPUSH
-- KEYS[2] job.items:NAME      hash   id -> payload
-- KEYS[3] job.publishes:NAME  string publish counter
-- KEYS[4] job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[5] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[6] job.ghosts:NAME     set    ids a retract left in job.ids
-- KEYS[7..] job.result:NAME\0ID of each job whose result is to be kept
--           (cleared: an earlier job with the same id may have left one)
-- ARGV[1] channel event.job.publish:NAME
-- ARGV[2] channel event.job.delay:NAME
-- ARGV[3..] per job, five values: id, payload, priority ('1'|'0'), result
--           TTL in seconds ('0': not kept), delay in ms ('0': available now)
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or 'exists:ID' when an id is already in the queue (or twice
--          in the batch); then nothing is written.
-- Events:  event.job.publish:NAME per job, then event.job.delay:NAME per job
--          due later; payload: the id.
local ids, items, publishes, awaited, delayed, ghosts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local publish_channel, delay_channel = ARGV[1], ARGV[2]
local count = in_groups(3, 5)
local job_ids = {}
for k = 1, count do
  -- (The checks of _args.lua, called only where the usual value, an id,
  -- '0' or '1', and zeros, does not settle it: a function call per value
  -- would cost a batch more than the rest of its validation.)
  local i = 5 * k - 2
  local id, priority, ttl, delay = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if id == '' then job_id(i) end
  if priority ~= '0' and priority ~= '1' then flag(i + 2) end
  if ttl ~= '0' then whole(i + 3, 0, MAX_DURATION / 1000) end
  if delay ~= '0' then whole(i + 4, 0, MAX_DURATION) end
  job_ids[k] = id
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

-- (Counters, not #t + 1: the length operator searches the table.)
local item_pairs, back, front, due_pairs, kept_pairs = {}, {}, {}, {}, {}
local nb, nf, nd, nk = 0, 0, 0, 0
-- The server's time, read only when a job is delayed.
local now
for k = 1, count do
  local i = 5 * k - 2
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
if redis.call('EXISTS', ghosts) == 1 then
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
local old_results = {}
for i = 7, #KEYS do old_results[i - 6] = KEYS[i] end
call_many('DEL', nil, old_results)
call_many('HSET', awaited, kept_pairs)
call_many('ZADD', delayed, due_pairs)
-- In order: each LPUSHed id goes behind the one before, each RPUSHed one
-- in front of it, as one call per job would do.
call_many('LPUSH', ids, back)
call_many('RPUSH', ids, front)
for k = 1, count do
  redis.call('PUBLISH', publish_channel, job_ids[k])
end
for i = 2, nd, 2 do
  redis.call('PUBLISH', delay_channel, due_pairs[i])
end
redis.call('INCRBY', publishes, count)
return remembered('ok')
