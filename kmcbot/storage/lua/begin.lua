-- BEGIN: is this message done (duplicate) or being worked on elsewhere? If not,
-- mark it "processing" with a lease, take the citizen's lock (in arrival order),
-- count it against the per-minute limit, and return the session and the profile.
local seen_key, processing_key, lock_key = KEYS[1], KEYS[2], KEYS[3]
local session_key, profile_key, rate_key = KEYS[4], KEYS[5], KEYS[6]
local queue_key, polled_key = KEYS[7], KEYS[8]
local message, token, lease_ms = ARGV[1], ARGV[2], ARGV[3]
local limit, now = tonumber(ARGV[4]), tonumber(ARGV[5])

if redis.call('ZSCORE', seen_key, message) then return {'dup'} end
if redis.call('EXISTS', processing_key) == 1 then return {'busy'} end
-- Nobody waiting (the usual case): take the lock if it is free.
local locked = redis.call('EXISTS', queue_key) == 0
  and redis.call('SET', lock_key, token, 'NX', 'PX', lease_ms)
if not locked then
  -- Messages waiting for the lock take it in the order they arrived: a queue
  -- (queue_key, scored by an arrival counter, as milliseconds can tie) and the time
  -- each waiter last asked (polled_key); a waiter that stopped asking (its request
  -- gave up) leaves the queue.
  for _, waiting in ipairs(redis.call('ZRANGE', queue_key, 0, -1)) do
    local polled = tonumber(redis.call('HGET', polled_key, waiting) or '0')
    if polled < now - 2000 then
      redis.call('ZREM', queue_key, waiting)
      redis.call('HDEL', polled_key, waiting)
    end
  end
  if not redis.call('ZSCORE', queue_key, message) then
    redis.call('ZADD', queue_key, redis.call('HINCRBY', polled_key, '#arrivals', 1), message)
  end
  redis.call('HSET', polled_key, message, now)
  redis.call('PEXPIRE', queue_key, 60000)
  redis.call('PEXPIRE', polled_key, 60000)
  if redis.call('ZRANGE', queue_key, 0, 0)[1] ~= message then return {'locked'} end
  if not redis.call('SET', lock_key, token, 'NX', 'PX', lease_ms) then return {'locked'} end
  redis.call('ZREM', queue_key, message)
  redis.call('HDEL', polled_key, message)
end
redis.call('SET', processing_key, token, 'PX', lease_ms)
-- The messages of the last minute, each counted once however often it is
-- delivered again: a redelivery keeps its first place in the line.
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - 60000)
redis.call('ZADD', rate_key, 'NX', now, message)
redis.call('PEXPIRE', rate_key, 60000)
local place = redis.call('ZRANK', rate_key, message) + 1
return {'ok', redis.call('GET', session_key) or '', redis.call('GET', profile_key) or '',
        place - limit}
