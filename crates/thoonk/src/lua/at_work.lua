-- at_work: the workers alive on this queue, what each says of itself,
-- and the jobs it holds now with when each was claimed (read only), for
-- the dashboard's workers panel.
--
-- Bounded: at most ARGV[1] workers (those whose mark runs out last), each
-- with the jobs its last heartbeat named (see workers.lua: a lookup per
-- job it holds), of which ARGV[2] are listed (with their count).
--
-- KEYS[1] job.workers:NAME     zset  worker id -> liveness deadline (ms)
-- KEYS[2] job.holders:NAME     zset  workers' claim calls (see claim_member)
-- KEYS[3] job.tokens:NAME      hash  id -> claim record
-- KEYS[4] job.claimed:NAME     zset
-- KEYS[5] job.worker_info:NAME hash  worker id -> what it says of itself
--                                    (see extend.lua)
-- ARGV[1] most workers (1 to 1000)
-- ARGV[2] most jobs listed per worker (0 to 1000)
-- Returns: {the server's time (ms), {per worker {id, liveness
--          deadline (ms), what it says of itself or '', jobs held,
--          {id, since (ms), exact ('1': the claim time; '0': the last
--          extension, for a token older than claim times in tokens)} per
--          job listed}}}
-- Events:  none.
local workers, holders, tokens, claimed, worker_info = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
exactly(2)
local most_workers = whole(1, 1, 1000)
local most_jobs = whole(2, 0, 1000)
local now = server_now()

-- When the claim a record describes was made: from its token
-- ('N-MS.ID…'), else (a token without MS) its score, the last extension.
local function since(record)
  local ms = string.match(record, '^%d+%-(%d+)%.')
  if ms then return ms, '1' end
  return string.match(record, '%z([^%z]*)$') or '0', '0'
end

local alive = redis.call('ZREVRANGEBYSCORE', workers, '+inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, most_workers)
local out = {}
for i = 1, #alive, 2 do
  local w = alive[i]
  local held = held_by(tokens, claimed, w, redis.call('ZRANGEBYLEX', holders, holder_range(w, 'H')))
  local listed = {}
  for k = 1, math.min(#held, most_jobs) do listed[k] = held[k] end
  local records = ask_many('HMGET', tokens, listed)
  local jobs = {}
  for k = 1, #listed do
    local ms, exact = since(records[k] or '')
    jobs[k] = {listed[k], ms, exact}
  end
  local about = redis.call('HGET', worker_info, w) or ''
  out[#out + 1] = {w, alive[i + 1], about, #held, jobs}
end
return {now, out}
