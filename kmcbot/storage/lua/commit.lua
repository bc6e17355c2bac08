-- COMMIT: compare-and-set the session on its version, save the profile, queue
-- the replies, mark the message done, release the lease and the lock.
local seen_key, processing_key, lock_key = KEYS[1], KEYS[2], KEYS[3]
local session_key, profile_key, outbox_key = KEYS[4], KEYS[5], KEYS[6]
local message, token, expected_version = ARGV[1], ARGV[2], tonumber(ARGV[3])
local session, session_ttl = ARGV[4], ARGV[5]
local profile, profile_ttl = ARGV[6], ARGV[7]  -- profile '': keep the stored one
local now, seen_ttl = tonumber(ARGV[8]), tonumber(ARGV[9])
local erase = ARGV[10]  -- '1': "delete my data"
local max_seen = tonumber(ARGV[11])  -- "seen" marks kept, the newest
local first_entry_field = 12  -- the outbox entry's fields, name value ... (none: no replies)

local cur = redis.call('GET', session_key)
local version = 0
if cur then version = tonumber(string.match(cur, '^(%d+):')) or 0 end
if version ~= expected_version then return 'conflict' end
if erase == '1' then
  -- "delete my data": nothing of the citizen stays, [issue 18, finding 5] nor the
  -- "seen" marks of earlier messages; this message's own is added below, so that
  -- a redelivery of it is not handled again.
  redis.call('DEL', session_key, profile_key, seen_key)
else
  redis.call('SET', session_key, (version + 1) .. ':' .. session, 'EX', session_ttl)
  if profile ~= '' then redis.call('SET', profile_key, profile, 'EX', profile_ttl) end
end
redis.call('ZADD', seen_key, now, message)
redis.call('ZREMRANGEBYSCORE', seen_key, '-inf', now - seen_ttl)
-- [issue 18, finding 10] At most max_seen marks: the oldest go first (a
-- redelivery comes within minutes of its message, not 500 messages later).
redis.call('ZREMRANGEBYRANK', seen_key, 0, -(max_seen + 1))
redis.call('EXPIRE', seen_key, seen_ttl)
if #ARGV >= first_entry_field then
  redis.call('XADD', outbox_key, '*', unpack(ARGV, first_entry_field))
end
if redis.call('GET', processing_key) == token then redis.call('DEL', processing_key) end
if redis.call('GET', lock_key) == token then redis.call('DEL', lock_key) end
return 'ok'
