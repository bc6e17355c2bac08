-- Tokens of the shared send rate, handed out per window of WINDOW_MS: a window's
-- share is the most any number of processes may send in it. The server's clock
-- names the window, so processes on machines with different clocks still agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
local current = math.floor(now / window)
local used = 0
local stored = redis.call('HMGET', KEYS[1], 'w', 'n')
if tonumber(stored[1]) == current then used = tonumber(stored[2]) end
local granted = math.max(0, math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used))
redis.call('HSET', KEYS[1], 'w', current, 'n', used + granted)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {granted, window - now % window}
