-- What messages with booking news carried (remember.lua): one slot's keys.
return redis.call('MGET', unpack(KEYS))
