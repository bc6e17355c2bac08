-- Give the message and the lock up, if they are still ours: a redelivery can
-- then be handled at once instead of waiting for the lease to run out.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 'ok'
