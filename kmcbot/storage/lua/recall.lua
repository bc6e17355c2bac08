-- What messages with booking news carried (remember.lua): one slot's keys.
local first_key = 1  -- the keys: KEYS[1] to the end

return redis.call('MGET', unpack(KEYS, first_key))
