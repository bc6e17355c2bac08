-- A sender that stops says goodbye: the others take its share at once.
local senders_key = KEYS[1]
local sender = ARGV[1]

return redis.call('ZREM', senders_key, sender)
