-- Acknowledge and delete a batch of entries of one stream.
local stream = KEYS[1]
local group = ARGV[1]
local first_id = 2  -- the entry ids: ARGV[2] to the end

redis.call('XACK', stream, group, unpack(ARGV, first_id))
return redis.call('XDEL', stream, unpack(ARGV, first_id))
