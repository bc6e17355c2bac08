-- ADOPT: a citizen's number or user id changed. The new id takes the old one's
-- session and profile, unless it has its own already.
local session_key, profile_key = KEYS[1], KEYS[2]
local session, session_ttl = ARGV[1], ARGV[2]
local profile, profile_ttl = ARGV[3], ARGV[4]

if session ~= '' then redis.call('SET', session_key, '1:' .. session, 'NX', 'EX', session_ttl) end
if profile ~= '' then redis.call('SET', profile_key, profile, 'NX', 'EX', profile_ttl) end
return 'ok'
