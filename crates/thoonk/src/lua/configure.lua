-- configure: change a queue's settings, all given or none.
--
-- Settings live in job.config:NAME, where every worker's claim (and the
-- dashboard) reads them: a limit holds across the whole fleet because
-- Redis applies it in the claim, not each process on its own.
--
-- KEYS[1] job.config:NAME     hash   setting -> value
-- KEYS[2] job.flow:NAME       string '1' while paused, rate or max_running
--                                    is set (claim.lua reads the settings
--                                    only then)
-- KEYS[3] job.keep:NAME       string '1' while keep_finished or
--                                    keep_finished_for_ms is set (finish.lua
--                                    reads them only then)
-- KEYS[4] job.finished:NAME   zset   the finished jobs kept (_history.lua):
-- KEYS[5] job.history:NAME    hash   unlinked when the last of both
--                                    settings is removed
-- ARGV[1] channel event.job.config:NAME
-- ARGV[2] channel event.job.pause:NAME
-- ARGV[3] channel event.job.resume:NAME
-- ARGV[4..] pairs: setting, value; an empty value removes the setting
--           (back to its default). The settings:
--   lease_ms     a claim's lease, 1 .. MAX_DURATION ms
--   max_cancels  cancels before a job is stalled, 0 .. MAX_COUNT
--   paused       '1': no claim succeeds
--   rate         'N/MS': at most N claims in any MS ms, N 1 .. MAX_RATE,
--                MS 1 .. MAX_DURATION
--   max_running  jobs claimed at once, 1 .. MAX_COUNT
--   timeout_ms   how long a worker lets a job's handler run, 1 .. MAX_DURATION
--   keep_finished         keep the last N finished jobs, 1 .. MAX_COUNT
--   keep_finished_for_ms  keep the jobs finished in the last T ms,
--                         1 .. MAX_DURATION
--   (Neither trims here: a finish trims, a bounded number per call. Set
--   both and a job goes once either says so.)
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok'.
-- Events:  event.job.config:NAME, payload the settings changed joined by
--          NUL; then event.job.pause:NAME when this paused the queue, or
--          event.job.resume:NAME when it resumed it (payload empty).
local config, flow, keep, finished, history = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local config_channel, pause_channel, resume_channel = ARGV[1], ARGV[2], ARGV[3]
local count = in_groups(4, 2)
if count == 0 then refuse_arg(4, '', 'a setting') end

-- The rate limit keeps one entry per claim of its period: bounded.
local MAX_RATE = 1000000
local function rate(i)
  local text = ARGV[i]
  local n, ms = string.match(text, '^(%d+)/(%d+)$')
  n, ms = tonumber(n), tonumber(ms)
  if not n or n < 1 or n > MAX_RATE or ms < 1 or ms > MAX_DURATION then
    refuse_arg(i, text, 'a rate N/MS, N from 1 to ' .. MAX_RATE .. ', MS from 1 to ' .. MAX_DURATION)
  end
end

local checks = {
  lease_ms = function(i) whole(i, 1, MAX_DURATION) end,
  max_cancels = function(i) whole(i, 0, MAX_COUNT) end,
  paused = function(i) one_of(i, '1') end,
  rate = rate,
  max_running = function(i) whole(i, 1, MAX_COUNT) end,
  timeout_ms = function(i) whole(i, 1, MAX_DURATION) end,
  keep_finished = function(i) whole(i, 1, MAX_COUNT) end,
  keep_finished_for_ms = function(i) whole(i, 1, MAX_DURATION) end,
}
local names, set, removed, seen = {}, {}, {}, {}
for k = 1, count do
  local i = 2 * k + 2
  local name, value = ARGV[i], ARGV[i + 1]
  local check = checks[name]
  if not check then
    one_of(i, 'lease_ms', 'max_cancels', 'paused', 'rate', 'max_running', 'timeout_ms',
      'keep_finished', 'keep_finished_for_ms')
  end
  if seen[name] then refuse_arg(i, name, 'a setting not given before') end
  seen[name] = true
  if value ~= '' then check(i + 1) end
  names[k] = name
  if value == '' then
    removed[#removed + 1] = name
  else
    set[#set + 1] = name
    set[#set + 1] = value
  end
end
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local was_paused = redis.call('HEXISTS', config, 'paused') == 1
call_many('HSET', config, set)
call_many('HDEL', config, removed)
local now_set = redis.call('HMGET', config, 'paused', 'rate', 'max_running',
  'keep_finished', 'keep_finished_for_ms')
local paused = now_set[1] ~= false
if now_set[1] or now_set[2] or now_set[3] then
  redis.call('SET', flow, '1')
else
  redis.call('DEL', flow)
end
if now_set[4] or now_set[5] then
  redis.call('SET', keep, '1')
elseif seen.keep_finished or seen.keep_finished_for_ms then
  -- History off: what was kept goes now, or nothing would ever trim it.
  -- UNLINK frees a long history off Redis's main thread: this call stays
  -- short however much was kept.
  redis.call('DEL', keep)
  redis.call('UNLINK', finished, history)
end
redis.call('PUBLISH', config_channel, table.concat(names, '\0'))
if paused and not was_paused then
  redis.call('PUBLISH', pause_channel, '')
elseif was_paused and not paused then
  redis.call('PUBLISH', resume_channel, '')
end
return remembered('ok')
