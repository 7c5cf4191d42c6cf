-- progress: a claimed job reports how far it got. The value is kept while
-- the claim lasts (every end of a claim deletes it: finish, cancel, stall,
-- retract, release, recovery), so what `list claimed` shows is always the
-- current claim's.
--
-- KEYS[1] job.claimed:NAME    zset
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.stalled:NAME    set    (read, to name the state in a refusal)
-- KEYS[4] job.delayed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[5] job.tokens:NAME     hash
-- KEYS[6] job.progress:NAME   hash   id -> the progress last reported
-- ARGV[1] id
-- ARGV[2] claim token, or '' (then the job need only be claimed)
-- ARGV[3] the progress: JSON text (the client checks it is), at most
--         MAX_PROGRESS bytes
-- ARGV[4] channel event.job.progress:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or the refusal, as finish.lua.
-- Events:  event.job.progress:NAME, payload id NUL progress.
local claimed, items, stalled, delayed, tokens, progress = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local token, value, channel = ARGV[2], ARGV[3], ARGV[4]
-- Progress is a figure for people and dashboards, not a second payload.
local MAX_PROGRESS = 65536
exactly(4)
local id = job_id(1)
if #value == 0 or #value > MAX_PROGRESS then
  refuse_arg(3, string.sub(value, 1, 20), 'JSON text of 1 to ' .. MAX_PROGRESS .. ' bytes')
end

local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end
local refusal = refuse_unless_claimed_by(items, claimed, stalled, delayed, tokens, id, token)
if refusal then return refusal end

redis.call('HSET', progress, id, value)
redis.call('PUBLISH', channel, id .. '\0' .. value)
return remembered('ok')
