-- release: a worker shutting down gives back the jobs it still holds,
-- unfinished. They go to the front of the queue (they were next) and it
-- does not count as a cancel: nothing failed.
--
-- KEYS[1] job.claimed:NAME    zset
-- KEYS[2] job.tokens:NAME     hash
-- KEYS[3] job.ids:NAME        list
-- KEYS[4] job.progress:NAME   hash   id -> progress (the claim's: it goes)
-- ARGV[1] channel event.job.release:NAME
-- ARGV[2..] pairs: id, token of each job held
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: how many were released (a claim already taken back is skipped).
-- Order:   the first job given is claimed first.
-- Events:  event.job.release:NAME with payload id, per job.
local claimed, tokens, ids, progress = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local channel = ARGV[1]
in_groups(2, 2)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local released = 0
-- From the last: each RPUSH goes in front of the one before, so the first
-- job given ends up first in line.
for i = #ARGV - 1, 2, -2 do
  local id, token = ARGV[i], ARGV[i + 1]
  -- (A v1 client's cancel or stall leaves the record behind: the job must
  -- still be claimed by this very claim, or it would be queued twice.)
  local record = redis.call('HGET', tokens, id)
  if holds(record, token, redis.call('ZSCORE', claimed, id)) then
    redis.call('ZREM', claimed, id)
    redis.call('HDEL', tokens, id)
    redis.call('HDEL', progress, id)
    redis.call('RPUSH', ids, id)
    redis.call('PUBLISH', channel, id)
    released = released + 1
  end
end
return remembered(released)
