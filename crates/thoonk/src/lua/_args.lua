-- Shared prelude: argument checks. A script checks every argument before
-- its first write: Redis does not roll a script back, so an error raised
-- after a write would leave half a state change behind. A bad argument
-- is refused with an error reply, and nothing is written.

-- Bounds of the numbers the scripts take. Durations are at most 100 years
-- of ms, counts 32-bit: the server's time plus a duration stays within 14
-- digits, which Lua writes out exactly when it hands a number to Redis, and
-- all are within what Redis takes as a score, an integer or an expiry.
local MAX_DURATION = 3155760000000
local MAX_COUNT = 2147483647

-- Now, in Unix ms, by the server's clock, as a number and as its text
-- (what goes to Redis per job). Every time a script compares or writes is
-- the server's: a client sends durations (a delay, a lease, how long a
-- liveness mark lasts), never instants, so no client's clock, however
-- wrong, decides whether a claim ran out or a job is due. The text is put
-- together from TIME's own (seconds, then the microseconds' first three
-- of six digits): turning a number into text costs a printf, more than the
-- rest of this.
local function server_now()
  local t = redis.call('TIME')
  local micros = t[2]
  local stamp = t[1] .. string.sub(string.rep('0', 6 - #micros) .. micros, 1, 3)
  return tonumber(stamp), stamp
end

local function refuse_arg(i, text, what)
  error({err = 'ERR argument ' .. i .. ' (' .. tostring(text) .. ') is not ' .. what .. ': nothing written'}, 0)
end

-- ARGV[i] as a whole number from low to high, written in decimal digits
-- (some go on to Redis as their text, which takes no '0x10' or '1e3'), or
-- the call is refused.
local function whole(i, low, high)
  local text = ARGV[i]
  -- (Zero first: most delays and TTLs of a batch are, and it needs no match.)
  if text == '0' and low == 0 then return 0 end
  local n = text and string.match(text, '^%d+$') and tonumber(text)
  if not n or n < low or n > high then
    refuse_arg(i, text, 'a whole number from ' .. low .. ' to ' .. high)
  end
  return n
end

-- ARGV[i] as a flag, '0' or '1', or the call is refused.
local function flag(i)
  local text = ARGV[i]
  if text ~= '0' and text ~= '1' then refuse_arg(i, text, 'one of 0, 1') end
  return text
end

-- ARGV[i] as one of the words given, or the call is refused.
local function one_of(i, ...)
  local text = ARGV[i]
  for _, word in ipairs({...}) do
    if text == word then return text end
  end
  refuse_arg(i, text, 'one of ' .. table.concat({...}, ', '))
end

-- ARGV[i] as a job id (not empty), or the call is refused.
local function job_id(i)
  local text = ARGV[i]
  if not text or text == '' then refuse_arg(i, text, 'a job id') end
  return text
end

-- Refuses a call without exactly `n` arguments.
local function exactly(n)
  if #ARGV ~= n then refuse_arg(#ARGV, #ARGV .. ' arguments', 'the ' .. n .. ' arguments expected') end
end

-- Refuses a call whose arguments from `first` on do not come in groups of
-- `size` (jobs of a batch: id, token, …).
local function in_groups(first, size)
  if #ARGV < first - 1 or (#ARGV - first + 1) % size ~= 0 then
    refuse_arg(#ARGV, #ARGV .. ' arguments', 'whole groups of ' .. size .. ' from argument ' .. first)
  end
  return (#ARGV - first + 1) / size
end

-- A number kept in Redis (a queue's setting, a TTL asked for at publish),
-- when it is a whole number from low to high; else the fallback. Data
-- another program wrote must not make a script fail halfway either.
local function kept_whole(value, low, high, fallback)
  local n = tonumber(value)
  if n and n == math.floor(n) and n >= low and n <= high then return n end
  return fallback
end
