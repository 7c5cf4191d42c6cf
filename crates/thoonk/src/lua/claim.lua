-- claim: take up to N available jobs, atomically, oldest first.
--
-- The id moves from job.ids to job.claimed inside this one script, so there
-- is no instant at which it is in no state (v1 BRPOPed it first, and a worker
-- that died right then lost the job). Waiting for work is done apart from
-- this script, with BLMOVE job.ids job.ids RIGHT RIGHT, which takes nothing.
--
-- KEYS[1] job.ids:NAME        list   available ids (taken from the right)
-- KEYS[2] job.claimed:NAME    zset   id -> claim time (ms)
-- KEYS[3] job.items:NAME      hash   id -> payload
-- KEYS[4] job.cancelled:NAME  hash   id -> times cancelled
-- KEYS[5] job.tokens:NAME     hash   id -> token of its current claim
-- KEYS[6] job.claims:NAME     string claim counter, the source of tokens
-- ARGV[1] now, Unix ms
-- ARGV[2] most jobs to claim (>= 1)
-- ARGV[3] channel event.job.claim:NAME
-- Returns: flat list of id, payload, times cancelled, token per job claimed
--          (empty when no job is available).
-- Events:  event.job.claim:NAME with payload id, per job.
local ids, claimed, items, cancelled, tokens, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, count, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local taken = redis.call('RPOP', ids, count)
if not taken then return {} end

local out = {}
for _, id in ipairs(taken) do
  local item = redis.call('HGET', items, id)
  -- An id without an item was left in the list by a v1 client; it names no
  -- job, so it is dropped rather than handed out as an empty one.
  if item then
    local token = redis.call('INCR', claims)
    redis.call('ZADD', claimed, now, id)
    redis.call('HSET', tokens, id, token)
    out[#out + 1] = id
    out[#out + 1] = item
    out[#out + 1] = redis.call('HGET', cancelled, id) or '0'
    out[#out + 1] = tostring(token)
    redis.call('PUBLISH', channel, id)
  end
end
return out
