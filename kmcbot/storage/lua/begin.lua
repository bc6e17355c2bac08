-- BEGIN: is this message done (duplicate) or being worked on elsewhere? If not,
-- mark it "processing" with a lease, take the citizen's lock (in arrival order),
-- count it against the per-minute limit, and return the session and the profile.
local seen_key, processing_key, lock_key = KEYS[1], KEYS[2], KEYS[3]
local session_key, profile_key, rate_key = KEYS[4], KEYS[5], KEYS[6]
local queue_key, polled_key = KEYS[7], KEYS[8]
local message, token, lease_ms = ARGV[1], ARGV[2], ARGV[3]
local limit, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local max_waiting = tonumber(ARGV[6])  -- messages that may wait for the lock at once

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
  -- [issue 18, finding 2] The queue holds at most max_waiting messages: a newcomer
  -- beyond it gets 'full' at once (503, WhatsApp delivers again later) instead
  -- of waiting. Only when it is full are the waiters that stopped asking swept
  -- out (at most max_waiting of them) to make room.
  if not redis.call('ZSCORE', queue_key, message) then
    if redis.call('ZCARD', queue_key) >= max_waiting then
      for _, waiting in ipairs(redis.call('ZRANGE', queue_key, 0, -1)) do
        local polled = tonumber(redis.call('HGET', polled_key, waiting) or '0')
        if polled < now - 2000 then
          redis.call('ZREM', queue_key, waiting)
          redis.call('HDEL', polled_key, waiting)
        end
      end
      if redis.call('ZCARD', queue_key) >= max_waiting then return {'full'} end
    end
    redis.call('ZADD', queue_key, redis.call('HINCRBY', polled_key, '#arrivals', 1), message)
  end
  redis.call('HSET', polled_key, message, now)
  redis.call('PEXPIRE', queue_key, 60000)
  redis.call('PEXPIRE', polled_key, 60000)
  -- [issue 18, finding 2] Only the head is looked at (it was a walk of the whole
  -- queue on every poll of every waiter): while the head stopped asking, it
  -- leaves. Each waiter leaves once, so a poll costs O(1) on average.
  local head = redis.call('ZRANGE', queue_key, 0, 0)[1]
  while head and head ~= message
      and tonumber(redis.call('HGET', polled_key, head) or '0') < now - 2000 do
    redis.call('ZREM', queue_key, head)
    redis.call('HDEL', polled_key, head)
    head = redis.call('ZRANGE', queue_key, 0, 0)[1]
  end
  if head ~= message then return {'locked'} end
  if not redis.call('SET', lock_key, token, 'NX', 'PX', lease_ms) then return {'locked'} end
  redis.call('ZREM', queue_key, message)
  redis.call('HDEL', polled_key, message)
end
redis.call('SET', processing_key, token, 'PX', lease_ms)
-- The messages of the last minute, each counted once however often it is
-- delivered again: a redelivery keeps its first place in the line.
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - 60000)
-- [issue 18, finding 10] The window keeps at most limit + 1 messages (the limit,
-- and the first one over it, which gets the notice): a message past those is not
-- added, its place is simply after them (silence). It was ZADD NX of every
-- message, 6,000 a minute from a flood.
local rank = redis.call('ZRANK', rate_key, message)
if not rank then
  rank = redis.call('ZCARD', rate_key)
  if rank <= limit then redis.call('ZADD', rate_key, now, message) end
end
redis.call('PEXPIRE', rate_key, 60000)
local place = rank + 1
return {'ok', redis.call('GET', session_key) or '', redis.call('GET', profile_key) or '',
        place - limit}
