-- Shared prelude for the scripts that handle many jobs per call: one
-- variadic command for the whole batch instead of one command per job
-- (each redis.call costs far more than one more argument), in chunks so
-- that unpack stays within Lua's stack limit.

-- Even, so that (field, value) and (score, member) pairs stay whole.
local CHUNK = 4000

-- redis.call(cmd, [key,] values...) for all of `values`.
local function call_many(cmd, key, values)
  local n = #values
  if n == 0 then return end
  if n <= CHUNK then
    if key then return redis.call(cmd, key, unpack(values)) end
    return redis.call(cmd, unpack(values))
  end
  for i = 1, n, CHUNK do
    local last = math.min(i + CHUNK - 1, n)
    if key then
      redis.call(cmd, key, unpack(values, i, last))
    else
      redis.call(cmd, unpack(values, i, last))
    end
  end
end

-- The replies of redis.call(cmd, key, values...), one per value, for
-- commands that answer one reply per argument (HMGET, ZMSCORE, SMISMEMBER).
local function ask_many(cmd, key, values)
  local n = #values
  if n == 0 then return {} end
  if n <= CHUNK then return redis.call(cmd, key, unpack(values)) end
  local replies = {}
  for i = 1, #values, CHUNK do
    local part = redis.call(cmd, key, unpack(values, i, math.min(i + CHUNK - 1, n)))
    for j = 1, #part do replies[#replies + 1] = part[j] end
  end
  return replies
end

-- How many of `keys` exist (EXISTS, keys only).
local function count_existing(keys)
  local n, found = #keys, 0
  for i = 1, n, CHUNK do
    found = found + redis.call('EXISTS', unpack(keys, i, math.min(i + CHUNK - 1, n)))
  end
  return found
end
