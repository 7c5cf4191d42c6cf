-- info: one job's whole record, read in one consistent snapshot (read
-- only): its state, named as the refusals name it (job_state), and every
-- time the layout keeps for it.
--
-- KEYS[1] job.items:NAME      hash   id -> payload
-- KEYS[2] job.claimed:NAME    zset   id -> claim time, then last lease extension (ms)
-- KEYS[3] job.stalled:NAME    set
-- KEYS[4] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[5] job.cancelled:NAME  hash   id -> times cancelled
-- KEYS[6] job.reasons:NAME    hash   id -> why it was last cancelled or stalled
-- KEYS[7] job.tokens:NAME     hash   id -> token; 'N-MS.ID@WORKER' for a worker's claim
-- KEYS[8] job.config:NAME     hash   lease_ms
-- KEYS[9] job.progress:NAME   hash   id -> progress (of a claimed job)
-- ARGV[1] id
-- ARGV[2] lease in ms when the queue sets none
-- ARGV[3] the largest payload to read, in bytes, or '' for any: a larger
--         one is not read (Redis would copy it whole), and comes back ''
-- Returns: nil when there is no such job, else {state, payload, times
--          cancelled, reason, claim time, due time, lease in ms, the worker
--          holding it, its progress, the payload's size in bytes}; each of
--          claim time .. progress nil when the
--          job has none (times as Redis prints scores; the lease and
--          progress only for a claimed job, the worker only for a worker's
--          claim).
-- Events:  none.
local items, claimed, stalled, delayed, cancelled, reasons, tokens, config, progress =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local id, default_lease, largest = ARGV[1], ARGV[2], ARGV[3]

local size = redis.call('HSTRLEN', items, id)
if size == 0 and redis.call('HEXISTS', items, id) == 0 then return nil end
local item = ''
if largest == '' or size <= tonumber(largest) then item = redis.call('HGET', items, id) end

local state = job_state(items, claimed, stalled, delayed, id)
local claim_time = redis.call('ZSCORE', claimed, id)
local lease, worker, reported = false, false, false
if claim_time then
  lease = redis.call('HGET', config, 'lease_ms') or default_lease
  -- Only while claimed: a v1 client's finish, cancel or stall leaves the
  -- token of the claim it ended behind.
  local token = redis.call('HGET', tokens, id)
  worker = token and current(token, claim_time) and claim_worker(token, id) or false
  reported = redis.call('HGET', progress, id)
end
return {
  state,
  item,
  redis.call('HGET', cancelled, id) or '0',
  redis.call('HGET', reasons, id),
  claim_time,
  redis.call('ZSCORE', delayed, id),
  lease,
  worker,
  reported,
  tostring(size),
}
