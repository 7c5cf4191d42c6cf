-- workers: the workers alive on this queue, and how many jobs each holds
-- (read only).
--
-- A worker's claims are the tokens that end in '@WORKER', so counting them
-- reads the whole tokens hash: one entry per job claimed, which the
-- workers' concurrency bounds. Only when some worker is alive.
--
-- KEYS[1] job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[2] job.tokens:NAME     hash   id -> token; 'N.ID@WORKER' for a worker's claim
-- KEYS[3] job.claimed:NAME    zset   (read: a v1 client's finish, cancel or
--                                    stall leaves the token behind, so a
--                                    token counts only while its job is claimed)
-- ARGV[1] now, Unix ms
-- Returns: flat list of worker id, liveness deadline (ms, as Redis prints
--          scores), jobs held, per worker whose deadline is after now, by
--          deadline.
-- Events:  none.
local workers, tokens, claimed = KEYS[1], KEYS[2], KEYS[3]
local now = ARGV[1]
whole(1, 0, MAX_TIME)

local alive = redis.call('ZRANGEBYSCORE', workers, '(' .. now, '+inf', 'WITHSCORES')
if #alive == 0 then return {} end

local holding = {}
for i = 1, #alive, 2 do holding[alive[i]] = 0 end
-- (Counters, not #t + 1: the length operator searches the table.)
local ids, owners, records, n = {}, {}, {}, 0
local all = redis.call('HGETALL', tokens)
for i = 1, #all, 2 do
  local w = claim_worker(all[i + 1], all[i])
  if w and holding[w] then
    n = n + 1
    ids[n] = all[i]
    owners[n] = w
    records[n] = all[i + 1]
  end
end
local held = ask_many('ZMSCORE', claimed, ids)
for k = 1, n do
  if current(records[k], held[k]) then holding[owners[k]] = holding[owners[k]] + 1 end
end

local out = {}
for i = 1, #alive, 2 do
  out[#out + 1] = alive[i]
  out[#out + 1] = alive[i + 1]
  out[#out + 1] = tostring(holding[alive[i]])
end
return out
