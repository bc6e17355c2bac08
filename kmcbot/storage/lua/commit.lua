local cur = redis.call('GET', KEYS[4])
local version = 0
if cur then version = tonumber(string.match(cur, '^(%d+):')) or 0 end
if version ~= tonumber(ARGV[3]) then return 'conflict' end
if ARGV[13] == '1' then
  redis.call('DEL', KEYS[4], KEYS[5])  -- "delete my data": nothing of the citizen stays
else
  redis.call('SET', KEYS[4], (version + 1) .. ':' .. ARGV[4], 'EX', ARGV[5])
  if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[6], 'EX', ARGV[7]) end
end
local now = tonumber(ARGV[8])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[9]))
redis.call('EXPIRE', KEYS[1], ARGV[9])
if ARGV[14] ~= '' and ARGV[12] ~= '' then
  redis.call('XADD', KEYS[6], '*', 'to', ARGV[10], 'tag', ARGV[11], 'bodies', ARGV[14],
             'news', ARGV[12])
elseif ARGV[14] ~= '' then
  redis.call('XADD', KEYS[6], '*', 'to', ARGV[10], 'tag', ARGV[11], 'bodies', ARGV[14])
end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 'ok'
