-- claim: take up to N available jobs, atomically, oldest first.
--
-- The id moves from job.ids to job.claimed inside this one script, so there
-- is no instant at which it is in no state (v1 BRPOPed it first, and a worker
-- that died right then lost the job). Waiting for work is done apart from
-- this script, with BLMOVE job.ids job.ids RIGHT RIGHT, which takes nothing.
-- Delayed jobs that are due are made available first, here: promotion
-- needs no coordinator, it happens whenever anyone claims.
--
-- KEYS[1] job.ids:NAME        list   available ids (taken from the right)
-- KEYS[2] job.claimed:NAME    zset   id -> claim time, then last lease extension (ms)
-- KEYS[3] job.items:NAME      hash   id -> payload
-- KEYS[4] job.cancelled:NAME  hash   id -> times cancelled
-- KEYS[5] job.tokens:NAME     hash   id -> record of its current claim: its
--                                    token ('N-MS.ID', or 'N-MS.ID@WORKER'
--                                    for a worker's; MS: the claim time),
--                                    NUL, its score in job.claimed
-- KEYS[6] job.claims:NAME     string claim counter: N, one per claim call
-- KEYS[7] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[8] job.stalled:NAME    set    (read: a v1 duplicate of a stalled id is dropped)
-- KEYS[9] job.holders:NAME    zset   a worker's claim calls (see claim_member)
-- KEYS[10] job.ghosts:NAME    set    ids a retract left in job.ids
-- KEYS[11] job.config:NAME    hash   (read: paused, rate, max_running)
-- KEYS[12] job.rate:NAME      list   claim times of the rate limit's period
-- KEYS[13] job.flow:NAME      string (read: whether any flow setting is set)
-- KEYS[14] job.marks:NAME     zset   when jobs joined the line (_marks.lua)
-- KEYS[15] job.marked:NAME    string while no look at the marks is due
-- ARGV[1] most jobs to claim (>= 1)
-- ARGV[2] channel event.job.claim:NAME
-- ARGV[3] the claiming worker's id, or '' (then no liveness mark covers
--         the claim: only its lease does)
-- ARGV[4] channel event.job.due:NAME
-- ARGV[5] channel event.job.held:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: {ms until the next delayed job falls due, or -1 when none is
--          delayed; ms until a claim may get more when flow control held
--          this one back (paused, rate, max_running: see _flow.lua), or -1
--          (-2: none, but the queue has a rate limit);
--          then id, payload, times cancelled, token per job claimed}
-- Events:  one event.job.due:NAME for the delayed jobs made available, then
--          one event.job.claim:NAME for the jobs claimed; payload: their
--          ids joined by NUL (an id holds no NUL). event.job.held:NAME
--          when this claim filled the rate limit's window; payload: the
--          hold, in ms. One message per call,
--          not per job: a PUBLISH costs Redis more than the rest of a
--          job's claim.
local ids, claimed, items, cancelled, tokens, claims, delayed, stalled, holders, ghosts, config, rate, flow_set =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local marks, marked = KEYS[14], KEYS[15]
local channel, worker, due_channel, held_channel = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
exactly(5)
local want = whole(1, 1, MAX_COUNT)
local now, stamp = server_now()

-- A second run of the same request (_once.lua) replays the first one's
-- claims: the jobs' payloads are read again rather than kept twice.
local replay = replayed()
if replay then
  local out, replayed_ids = {replay[1], replay[2]}, {}
  for k = 3, #replay, 3 do replayed_ids[#replayed_ids + 1] = replay[k] end
  local payloads = ask_many('HMGET', items, replayed_ids)
  for k = 1, #replayed_ids do
    -- (A job retracted since is no longer handed out.)
    if payloads[k] then
      local at = #out
      out[at + 1], out[at + 2] = replayed_ids[k], payloads[k]
      out[at + 3], out[at + 4] = replay[3 * k + 1], replay[3 * k + 2]
    end
  end
  return out
end

-- (Numbers go to Redis as text, ARGV[1] as the text whole() checked:
-- Redis would turn a Lua number into text with a printf, on every call.)

-- Due first, oldest due first: LPUSH in that order leaves the oldest
-- nearest the right end, where claims take from. (The first delayed job
-- alone says whether any is due: one call, not two, when none is.)
local first = redis.call('ZRANGE', delayed, '0', '0', 'WITHSCORES')
if first[2] and tonumber(first[2]) <= now then
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', stamp, 'LIMIT', '0', '1000')
  call_many('ZREM', delayed, due)
  call_many('LPUSH', ids, due)
  rejoined(line_marks(marks, marked, items, claimed, stalled, delayed), due, now)
  redis.call('PUBLISH', due_channel, table.concat(due, '\0'))
  first = redis.call('ZRANGE', delayed, '0', '0', 'WITHSCORES')
end

local out = {-1, -1}
if first[2] then out[1] = math.max(0, tonumber(first[2]) - now) end

-- A queue in good health, with no flow control set, has no stalled and
-- no cancelled job and no job.flow: one EXISTS then stands for the reads
-- of those keys, which would find nothing.
local rare = redis.call('EXISTS', stalled, cancelled, flow_set) > 0

-- Flow control: how many of the jobs wanted may be claimed now (see
-- _flow.lua).
local flow = rare and redis.call('HMGET', config, 'paused', 'rate', 'max_running') or {}
local count, window = want, nil
if flow[1] or flow[2] or flow[3] then
  local hold
  count, hold, window = flow_room(flow, claimed, rate, want, now)
  if count == 0 then
    out[2] = hold
    return out
  end
end

local taken = redis.call('RPOP', ids, count == want and ARGV[1] or tostring(count))
if not taken then return out end

-- Puts the `n` ids of `chosen_ids` into job.claimed at `stamp`, but for
-- a second copy of a job that a claim holds already (left in the list by
-- a retract of a long list, or by a v1 client: it could queue an id
-- twice): ZADD NX leaves that one as it was, and it is dropped rather than
-- handed out again. Most often every id is new, which the count ZADD
-- returns says, with no read of job.claimed before: while it holds 128
-- jobs at most it is a listpack, searched from one end, and reading the
-- batch's ids there cost more than the rest of the claim. Returns the ids
-- claimed, and how many.
local function claim_new(chosen_ids, n, dropped)
  local claim_pairs = {}
  for k = 1, n do
    claim_pairs[2 * k - 1] = stamp
    claim_pairs[2 * k] = chosen_ids[k]
  end
  local added = 0
  for i = 1, 2 * n, CHUNK do
    added = added + redis.call('ZADD', claimed, 'NX', unpack(claim_pairs, i, math.min(i + CHUNK - 1, 2 * n)))
  end
  if added == n then return chosen_ids, n end
  -- Some were held. One held keeps its own score; one whose score is now
  -- `stamp` was added here, unless a claim of this very millisecond holds
  -- it: one of ours has a current claim record, a v1 client's none.
  local scores = ask_many('ZMSCORE', claimed, chosen_ids)
  local records = ask_many('HMGET', tokens, chosen_ids)
  local new, m = {}, 0
  for k = 1, n do
    local id = chosen_ids[k]
    if tonumber(scores[k]) ~= now or (records[k] and current(records[k], scores[k])) then
      dropped[#dropped + 1] = id
    else
      m = m + 1
      new[m] = id
    end
  end
  if m == added then return new, m end
  -- Else (a v1 claim of this millisecond holds one of them) nothing tells
  -- which were added here: none is handed out. Those stay claimed with no
  -- record, as a v1 worker's claim would, and recovery sends them back
  -- once the lease runs out (recover.lua): late, but never run twice.
  for k = 1, m do dropped[#dropped + 1] = new[k] end
  return {}, 0
end

-- An id without an item, or a second copy of a job already stalled (or
-- twice in this batch), was left in the list by a retract of a long list,
-- or by a v1 client: it is dropped rather than handed out, as is a second
-- copy of a job claimed (claim_new).
local payloads = ask_many('HMGET', items, taken)
local is_stalled = rare and ask_many('SMISMEMBER', stalled, taken) or {}
-- (Counters, not #t + 1: the length operator searches the table.)
local chosen_ids, n, payload_of, dropped = {}, 0, {}, {}
for i = 1, #taken do
  local id = taken[i]
  if payloads[i] and is_stalled[i] ~= 1 and not payload_of[id] then
    n = n + 1
    chosen_ids[n] = id
    payload_of[id] = payloads[i]
  else
    dropped[#dropped + 1] = id
  end
end
if n > 0 then chosen_ids, n = claim_new(chosen_ids, n, dropped) end
-- A ghost a retract left is one of the dropped; it counts no more.
call_many('SREM', ghosts, dropped)
if n == 0 then return out end
if window then out[2] = flow_took(rate, window, n, now, stamp, held_channel) end

-- The claim number and the id make each token unique; no number is turned
-- into text per job (a printf each). The claim time rides in the token
-- ('N-MS.ID'), the one part of the claim record that extensions leave as
-- it was: how long a job has run is read from it (at_work.lua). Every
-- reader takes what precedes the first '.' as opaque, so older versions
-- read these tokens as theirs, and at_work reads theirs (no '-MS').
local prefix_n = tostring(redis.call('INCR', claims))
local prefix = prefix_n .. '-' .. stamp .. '.'
local suffix = worker ~= '' and ('@' .. worker) or ''
local record_pairs, chosen_tokens = {}, {}
for k = 1, n do
  local id = chosen_ids[k]
  local token = prefix .. id .. suffix
  record_pairs[2 * k - 1] = id
  record_pairs[2 * k] = claim_record(token, stamp)
  chosen_tokens[k] = token
end
call_many('HSET', tokens, record_pairs)
if worker ~= '' then
  redis.call('ZADD', holders, '0', claim_member(worker, now, prefix_n, chosen_ids))
end
local counts = rare and ask_many('HMGET', cancelled, chosen_ids) or {}

-- (What a second run replays is built only where one can come.)
local kept = remembering() and {out[1], out[2]}
for k = 1, n do
  local id, cancels = chosen_ids[k], counts[k] or '0'
  out[4 * k - 1] = id
  out[4 * k] = payload_of[id]
  out[4 * k + 1] = cancels
  out[4 * k + 2] = chosen_tokens[k]
  if kept then kept[3 * k], kept[3 * k + 1], kept[3 * k + 2] = id, cancels, chosen_tokens[k] end
end
redis.call('PUBLISH', channel, table.concat(chosen_ids, '\0'))
return remembered(out, kept)
