-- Keep what each message with booking news carried (observe/delivery.py), a while.
-- KEYS: one slot's keys (storage/keys.sent_key); ARGV[1]: seconds kept; ARGV[2..]: values.
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'EX', ttl)
end
return #KEYS
