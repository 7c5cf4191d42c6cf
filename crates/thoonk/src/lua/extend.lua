-- extend: renew the leases of the jobs a worker holds, in one call, and
-- the worker's liveness mark; its members of job.holders become one, of
-- the jobs it holds.
--
-- KEYS[1] job.claimed:NAME    zset   id -> claim time, then last extension (ms)
-- KEYS[2] job.tokens:NAME     hash   id -> record of its current claim
--                                    (token NUL score: see claim_record)
-- KEYS[3] job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[4] job.items:NAME      hash   (read: a job gone is finished, not lost)
-- KEYS[5] job.holders:NAME    zset   workers' claim calls (see claim_member)
-- KEYS[6] job.pulse:NAME      hash   last heartbeat, grace after a silence
--                                    (see grace_after_silence)
-- KEYS[7] job.worker_info:NAME hash  worker id -> what it says of itself:
--                                    the server's time of the first beat
--                                    that wrote it (ms), NUL, ARGV[3]
-- ARGV[1] worker id, or '' (no liveness mark to renew)
-- ARGV[2] how long the worker's liveness mark lasts from now (ms)
-- ARGV[3] what the worker says of itself (at most 512 bytes: concurrency,
--         pid, version, host, NUL-separated), or '' (nothing)
-- ARGV[4..] pairs: id, token of each job held
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: the ids whose claim is no longer the caller's: taken back, and
--          the job still there. (A job that is gone was finished, maybe by
--          the caller a moment ago: nothing was lost.)
-- Events:  none.
local claimed, tokens, workers, items, holders, pulse = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local worker_info = KEYS[7]

local worker = ARGV[1]
local alive_for = whole(2, 0, MAX_DURATION)
local about = ARGV[3]
-- (Kept per live worker: bounded, as the marks are.)
if not about or #about > 512 then refuse_arg(3, about and #about .. ' bytes', 'at most 512 bytes') end
in_groups(4, 2)
local now, stamp = server_now()
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local lost, kept = {}, {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  -- (A v1 client's finish, cancel or stall leaves the record behind, and
  -- its claim gives the job a score of its own: see holds.)
  if holds(redis.call('HGET', tokens, id), token, redis.call('ZSCORE', claimed, id)) then
    redis.call('ZADD', claimed, 'XX', stamp, id)
    redis.call('HSET', tokens, id, claim_record(token, stamp))
    kept[#kept + 1] = id
  elseif redis.call('HEXISTS', items, id) == 1 then
    lost[#lost + 1] = id
  end
end
if worker ~= '' then
  -- (Before the mark is renewed: it may be the one that ran out.)
  grace_after_silence(pulse, workers, now)
  redis.call('HSET', pulse, 'beat', now)
  redis.call('ZADD', workers, now + alive_for, worker)
  -- Once per life of the mark: what a worker says of itself does not
  -- change while it runs, and the first beat's time is when it started
  -- (recovery drops both when the mark runs out).
  if about ~= '' then redis.call('HSETNX', worker_info, worker, stamp .. '\0' .. about) end
  -- Its claim calls' members two seconds old or more go, read or not
  -- (O(its calls of a second)), and a member of what it holds replaces
  -- the last (see claim_member).
  local c_from = holder_range(worker, 'C')
  redis.call('ZREMRANGEBYLEX', holders, c_from, '(' .. worker .. '\0C\0' .. second_of(now - 1000))
  redis.call('ZREMRANGEBYLEX', holders, holder_range(worker, 'H'))
  if #kept > 0 then redis.call('ZADD', holders, 0, heartbeat_member(worker, now, kept)) end
end
return remembered(lost)
