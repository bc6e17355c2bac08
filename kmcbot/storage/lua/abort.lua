-- ABORT: give the message and the lock up, if they are still ours: a redelivery
-- can then be handled at once instead of waiting for the lease to run out.
local processing_key, lock_key = KEYS[1], KEYS[2]
local token = ARGV[1]

if redis.call('GET', processing_key) == token then redis.call('DEL', processing_key) end
if redis.call('GET', lock_key) == token then redis.call('DEL', lock_key) end
return 'ok'
