if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'dup'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'busy'} end
local now = tonumber(ARGV[5])
-- Nobody waiting (the usual case): take the lock if it is free.
local locked = redis.call('EXISTS', KEYS[7]) == 0
  and redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3])
if not locked then
  -- Messages waiting for the lock take it in the order they arrived: a queue
  -- (KEYS[7], scored by an arrival counter, as milliseconds can tie) and the time
  -- each waiter last asked (KEYS[8]); a waiter that stopped asking (its request
  -- gave up) leaves the queue.
  for _, waiting in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
    local polled = tonumber(redis.call('HGET', KEYS[8], waiting) or '0')
    if polled < now - 2000 then
      redis.call('ZREM', KEYS[7], waiting)
      redis.call('HDEL', KEYS[8], waiting)
    end
  end
  if not redis.call('ZSCORE', KEYS[7], ARGV[1]) then
    redis.call('ZADD', KEYS[7], redis.call('HINCRBY', KEYS[8], '#arrivals', 1), ARGV[1])
  end
  redis.call('HSET', KEYS[8], ARGV[1], now)
  redis.call('PEXPIRE', KEYS[7], 60000)
  redis.call('PEXPIRE', KEYS[8], 60000)
  if redis.call('ZRANGE', KEYS[7], 0, 0)[1] ~= ARGV[1] then return {'locked'} end
  if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'locked'} end
  redis.call('ZREM', KEYS[7], ARGV[1])
  redis.call('HDEL', KEYS[8], ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
-- The messages of the last minute, each counted once however often it is
-- delivered again: a redelivery keeps its first place in the line.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 60000)
redis.call('ZADD', KEYS[6], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[6], 60000)
local place = redis.call('ZRANK', KEYS[6], ARGV[1]) + 1
return {'ok', redis.call('GET', KEYS[4]) or '', redis.call('GET', KEYS[5]) or '',
        place - tonumber(ARGV[4])}
