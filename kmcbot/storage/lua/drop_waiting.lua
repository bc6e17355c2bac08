-- DROP_WAITING [issue 18, finding 5]: "delete my data" also takes the citizen's
-- replies still waiting in its outbox stream (they may hold a ticket). One page
-- of the stream per call, so a long backlog never holds Redis for long; returns
-- where the next page starts ('' at the end) and how many went. An entry a
-- sender has read already is then claimed empty and skipped.
local stream = KEYS[1]
local start, page, tag = ARGV[1], ARGV[2], ARGV[3]

local entries = redis.call('XRANGE', stream, start, '+', 'COUNT', page)
local dropped = 0
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'tag' then
      if fields[i + 1] == tag then
        redis.call('XDEL', stream, entry[1])
        dropped = dropped + 1
      end
      break
    end
  end
end
if #entries < tonumber(page) then return {'', dropped} end
return {'(' .. entries[#entries][1], dropped}
