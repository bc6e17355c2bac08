-- One sender at a time reads a stream, so a citizen's entries go out in order even
-- with many processes: a lease, taken or renewed by its holder.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
