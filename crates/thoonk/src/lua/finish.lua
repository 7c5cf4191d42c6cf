-- finish: claimed jobs are done; delete them and hand their results on.
-- One job or many: a worker collects its finishes for a moment and sends
-- them in one call. Each job is checked and finished on its own; one
-- refused job does not stop the others.
--
-- KEYS[1]  job.claimed:NAME    zset
-- KEYS[2]  job.items:NAME      hash
-- KEYS[3]  job.stalled:NAME    set    (read, to name the state in a refusal)
-- KEYS[4]  job.delayed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[5]  job.tokens:NAME     hash
-- KEYS[6]  job.cancelled:NAME  hash
-- KEYS[7]  job.published:NAME  zset
-- KEYS[8]  job.finishes:NAME   string finish counter
-- KEYS[9]  job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[10] job.reasons:NAME    hash   id -> why it was last cancelled or stalled
-- KEYS[11..] job.result:NAME\0ID per job, in ARGV order: where a kept result waits
-- ARGV[1] channel event.job.finish:NAME
-- ARGV[2..] per job, four values: id; claim token, or '' (a v1 caller
--           without one); '1' when a result is given, else '0'; the result
-- Returns: one reply per job: 'ok', or the refusal: the state the job is in
--          ('missing', 'available', 'stalled', 'delayed'), prefixed
--          'stale:' when the token is not the job's current claim.
-- Events:  event.job.finish:NAME per job finished, with payload id, or
--          id NUL result (as v1).
local claimed, items, stalled, delayed, tokens = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cancelled, published, finishes, awaited, reasons = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local channel = ARGV[1]

local replies, done = {}, 0
for i = 2, #ARGV, 4 do
  local id, token, has_result, result = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local refusal = refuse_unless_claimed_by(items, claimed, stalled, delayed, tokens, id, token)
  if refusal then
    replies[#replies + 1] = refusal
  else
    redis.call('ZREM', claimed, id)
    redis.call('HDEL', tokens, id)
    redis.call('HDEL', cancelled, id)
    redis.call('HDEL', reasons, id)
    redis.call('ZREM', published, id)
    redis.call('HDEL', items, id)
    -- The pub/sub message reaches only who listens at that instant (v1
    -- flaw 5); a publisher that asked for the result finds it here after a
    -- reconnect.
    local ttl = redis.call('HGET', awaited, id)
    if ttl then
      redis.call('HDEL', awaited, id)
      local kept = has_result == '1' and ('1' .. result) or '0'
      redis.call('SET', KEYS[11 + (i - 2) / 4], kept, 'EX', ttl)
    end
    if has_result == '1' then
      redis.call('PUBLISH', channel, id .. '\0' .. result)
    else
      redis.call('PUBLISH', channel, id)
    end
    replies[#replies + 1] = 'ok'
    done = done + 1
  end
end
if done > 0 then redis.call('INCRBY', finishes, done) end
return replies
