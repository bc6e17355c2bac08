-- Keep what each message with booking news carried (observe/delivery.py), a while.
-- KEYS: one slot's keys (storage/keys.sent_key); ARGV: seconds kept, then a value per key.
local ttl = ARGV[1]
local first_value = 2  -- the values: ARGV[2] to the end, in the order of KEYS

local values = {unpack(ARGV, first_value)}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, values[i], 'EX', ttl)
end
return #KEYS
