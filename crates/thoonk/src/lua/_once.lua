-- Shared prelude of the scripts that write: once, even when sent twice.
-- A client may send a call again that already ran (its connection dropped
-- before the reply came; the cluster client then sends it again by
-- itself). So each call carries a request id, the last of its ARGV, and
-- the key that remembers it, job.request:NAME\0ID, the last of its KEYS;
-- take_request, which every such script's function calls first, takes
-- both off before the script reads its own. A script that wrote remembers
-- its reply there for REMEMBER_MS (replayed first thing by a second run of
-- the same request, which then writes nothing). A run that wrote nothing
-- remembers nothing: a second run is a fresh call, whose reply the caller
-- takes instead of the one it never got. An empty request id: nothing is
-- remembered (the client sends one where a call is never sent twice: to
-- one Redis).
local REMEMBER_MS = 10000
local request_key, request_id

-- Takes the request's key and id off KEYS and ARGV, first thing in every
-- call of a script that writes. Returns the error reply to answer with
-- when the call has none, else nil.
local function take_request()
  request_key, request_id = table.remove(KEYS), table.remove(ARGV)
  if not request_id then
    return redis.error_reply('ERR no request id (the last argument): nothing written')
  end
end

-- Whether this call's reply is remembered (it may be sent twice).
local function remembering()
  return request_id ~= ''
end

-- The reply of an earlier run of this request, or nil.
local function replayed()
  if not remembering() then return nil end
  local kept = redis.call('GET', request_key)
  return kept and cmsgpack.unpack(kept)
end

-- Returns `reply`, remembering `kept` (the reply itself unless given) for a
-- second run of the request.
local function remembered(reply, kept)
  if remembering() then
    redis.call('SET', request_key, cmsgpack.pack(kept or reply), 'PX', REMEMBER_MS)
  end
  return reply
end
