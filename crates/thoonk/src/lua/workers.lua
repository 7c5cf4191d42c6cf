-- workers: the workers alive on this queue, and how many jobs each holds
-- (read only).
--
-- A worker's jobs are those its last heartbeat named in job.holders (see
-- claim_member) and it still holds: a lookup per job it holds, not a
-- read of every claim. (Jobs claimed since that heartbeat, a second ago at
-- most, count from its next one.)
--
-- KEYS[1] job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[2] job.holders:NAME    zset   workers' claim calls (see claim_member)
-- KEYS[3] job.tokens:NAME     hash   id -> claim record
-- KEYS[4] job.claimed:NAME    zset
-- Returns: flat list of worker id, liveness deadline (ms, as Redis prints
--          scores), jobs held, per worker whose deadline is after now, by
--          deadline (at most 1,000 workers).
-- Events:  none.
local workers, holders, tokens, claimed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
exactly(0)
local now = server_now()

local alive = redis.call('ZRANGEBYSCORE', workers, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1000)
local out = {}
for i = 1, #alive, 2 do
  out[#out + 1] = alive[i]
  out[#out + 1] = alive[i + 1]
  local w = alive[i]
  local last = redis.call('ZRANGEBYLEX', holders, holder_range(w, 'H'))
  out[#out + 1] = tostring(#held_by(tokens, claimed, w, last))
end
return out
