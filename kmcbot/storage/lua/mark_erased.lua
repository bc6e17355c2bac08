-- MARK_ERASED [issue 18, finding 5]: an erasure happened; jobs/aof.py asks Redis
-- to rewrite its append-only file, which holds the erased data until then.
local erased_key, since = KEYS[1], ARGV[1]

redis.call('SET', erased_key, since, 'NX')
return 'ok'
