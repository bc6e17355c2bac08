-- The senders alive (each says so every few seconds): their number sets each
-- one's fair share of the streams.
local senders_key = KEYS[1]
local sender, lease_ms = ARGV[1], tonumber(ARGV[2])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', senders_key, now, sender)
redis.call('ZREMRANGEBYSCORE', senders_key, '-inf', now - lease_ms)
redis.call('PEXPIRE', senders_key, 2 * lease_ms)
return redis.call('ZCARD', senders_key)
