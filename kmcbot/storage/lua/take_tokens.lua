-- Tokens of the shared send rate, handed out per window of window_ms: a window's
-- share is the most any number of processes may send in it. The server's clock
-- names the window, so processes on machines with different clocks still agree.
local rate_key = KEYS[1]
local wanted, per_window, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = math.floor(now / window)
local used = 0
local stored = redis.call('HMGET', rate_key, 'w', 'n')
if tonumber(stored[1]) == current then used = tonumber(stored[2]) end
local granted = math.max(0, math.min(wanted, per_window - used))
redis.call('HSET', rate_key, 'w', current, 'n', used + granted)
redis.call('PEXPIRE', rate_key, window * 2)
return {granted, window - now % window}
