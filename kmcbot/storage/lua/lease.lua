-- One sender at a time reads a stream, so a citizen's entries go out in order even
-- with many processes: a lease, taken or renewed by its holder.
local lease_key = KEYS[1]
local sender, lease_ms = ARGV[1], ARGV[2]

local holder = redis.call('GET', lease_key)
if holder and holder ~= sender then return 0 end
redis.call('SET', lease_key, sender, 'PX', lease_ms)
return 1
