-- memory: how much memory a queue's keys use (read only): MEMORY USAGE of
-- each, with a sample of ARGV[1] elements for the nested ones, so that the
-- cost is bounded by the number of keys, whatever their size.
--
-- KEYS[1..] every key of the queue (Keys::all)
-- ARGV[1] elements sampled per nested key (1 to 100)
-- Returns: {bytes (estimated), keys that exist}
-- Events:  none.
exactly(1)
local samples = tostring(whole(1, 1, 100))
local bytes, present = 0, 0
for _, key in ipairs(KEYS) do
  local used = redis.call('MEMORY', 'USAGE', key, 'SAMPLES', samples)
  if used then
    bytes = bytes + used
    present = present + 1
  end
end
return {bytes, present}
