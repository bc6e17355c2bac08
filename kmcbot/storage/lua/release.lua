-- Let a stream's lease go, if it is still ours.
local lease_key = KEYS[1]
local sender = ARGV[1]

if redis.call('GET', lease_key) == sender then redis.call('DEL', lease_key) end
return 1
