-- extend: renew the leases of the jobs a worker holds, in one call, and
-- the worker's liveness mark.
--
-- KEYS[1] job.claimed:NAME    zset   id -> claim time, then last extension (ms)
-- KEYS[2] job.tokens:NAME     hash   id -> record of its current claim
--                                    (token NUL score: see claim_record)
-- KEYS[3] job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[4] job.items:NAME      hash   (read: a job gone is finished, not lost)
-- ARGV[1] now, Unix ms
-- ARGV[2] worker id, or '' (no liveness mark to renew)
-- ARGV[3] the worker's new liveness deadline (ms)
-- ARGV[4..] pairs: id, token of each job held
-- Returns: the ids whose claim is no longer the caller's: taken back, and
--          the job still there. (A job that is gone was finished, maybe by
--          the caller a moment ago: nothing was lost.)
-- Events:  none.
local claimed, tokens, workers, items = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker = ARGV[2]
-- (As their text: scores are written as given, not reformatted.)
local now, alive_until = ARGV[1], ARGV[3]
whole(1, 0, MAX_TIME)
whole(3, 0, MAX_TIME)
in_groups(4, 2)

local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  -- (A v1 client's finish, cancel or stall leaves the record behind, and
  -- its claim gives the job a score of its own: see holds.)
  if holds(redis.call('HGET', tokens, id), token, redis.call('ZSCORE', claimed, id)) then
    redis.call('ZADD', claimed, 'XX', now, id)
    redis.call('HSET', tokens, id, claim_record(token, now))
  elseif redis.call('HEXISTS', items, id) == 1 then
    lost[#lost + 1] = id
  end
end
if worker ~= '' then redis.call('ZADD', workers, alive_until, worker) end
return lost
