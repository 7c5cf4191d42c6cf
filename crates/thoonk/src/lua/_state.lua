-- Shared prelude (prepended to the scripts that refuse a job): names the
-- state a job is in, so a refusal can say "it is stalled", not just "no".
-- A job exists while its item does; claimed and stalled are recorded in
-- their own keys; any other existing job is waiting in job.ids (available).
local function job_state(items, claimed, stalled, id)
  if redis.call('HEXISTS', items, id) == 0 then return 'missing' end
  if redis.call('ZSCORE', claimed, id) then return 'claimed' end
  if redis.call('SISMEMBER', stalled, id) == 1 then return 'stalled' end
  return 'available'
end

-- Validation shared by finish, cancel and stall: the job must be claimed
-- and, when the caller presents a claim token, by that very claim.
-- Returns nil when the caller may go on, else the refusal to return.
local function refuse_unless_claimed_by(items, claimed, stalled, tokens, id, token)
  if not redis.call('ZSCORE', claimed, id) then
    return job_state(items, claimed, stalled, id)
  end
  if token ~= '' and redis.call('HGET', tokens, id) ~= token then
    return 'stale'
  end
  return nil
end
