"""The online store's server-side steps (Lua, run atomically by Redis 6.2+ or Valkey).

Event-time bounds are computed in Python and passed as strings (`repr` of a double, with
`(` for an exclusive bound): Lua 5.1 formats numbers with 14 digits, which would move a
window's edge by microseconds. Scores come back with WITHSCORES, which Redis writes with 17
digits, so every time round-trips exactly.

Every key of a deployment is in one hash slot (fraudit.online.plan.StoreKeys), so a step
over a transaction's card, merchant, device and IP is legal on a Redis Cluster too.

Work per entity is bounded by its cap (rule 8 of docs/FEATURES.md): a step reads at most
`cap` members (ZCOUNT of those dated after t, then ZREVRANGEBYSCORE ... LIMIT of the rest)
and a set keeps at most `cap + slack` (ZREMRANGEBYRANK), whatever the entity's traffic.
"""

from __future__ import annotations

# The transaction record: `arrival|owner|attempt`. The owner is the body's fingerprint
# ('' without a transaction_id), the attempt the nonce of the request that counted it.
_PARSE_RECORD = """
local function parse(record)
  local arrival, owner, attempt = string.match(record, '^(%d+)|([^|]*)|(.*)$')
  if not arrival then return string.match(record, '^(%d+)'), '', '' end
  return arrival, owner, attempt
end
"""

# KEYS: 1 idempotency record, 2 transaction record, 3 arrival counter, 4 this attempt's
#       fence, 5 the rebuild's marker, 6 the attempts register, 7.. entity sets.
# ARGV: 1 claim ('1' or '0'), 2 pending value, 3 idempotency ttl (ms), 4 state ttl (s),
#       5 transaction_id, 6 score, 7 entity count, 8 read ('1' or '0'),
#       9 arrival given by the caller ('' = assign), 10 owner, 11 attempt,
#       12 the attempt's register entry ('' = none: a replay), then per entity:
#       kind ('members' | 'counts'), read lower bound, trim bound, member tail, cap,
#       members kept, window count, window lower bounds...
# A fenced attempt (its client gave up and ABANDON ran first) does nothing. While a rebuild
# runs, a live card transaction is refused ({'rebuilding'}, nothing written): it would be
# scored on a partial history and take an arrival number the rebuild may still replay. A
# claim that
# finds the transaction counted under another owner is a transaction_id reused with another
# body after its idempotency record expired: the claim is dropped, the answer {'reused'}.
# Answer: {'fenced'} | {'rebuilding'} | {'seen', record} | {'reused'} | {'new'}
#       | {'new', arrival, added, entity answers...}
BEGIN = (
    _PARSE_RECORD
    + """
if redis.call('EXISTS', KEYS[4]) == 1 then return {'fenced'} end
if ARGV[7] ~= '0' and ARGV[9] == '' and redis.call('EXISTS', KEYS[5]) == 1 then
  return {'rebuilding'}
end
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {'seen', seen} end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
local n = tonumber(ARGV[7])
if n == 0 then return {'new'} end
local txid, score, ttl = ARGV[5], ARGV[6], tonumber(ARGV[4])
local t = tonumber(score)
local record = redis.call('GET', KEYS[2])
local counted = record ~= false
local arrival
if counted then
  -- counted before (a retry whose idempotency record expired, or a rebuild)
  local owner
  arrival, owner = parse(record)
  if ARGV[1] == '1' and owner ~= '' and owner ~= ARGV[10] then
    redis.call('DEL', KEYS[1])
    return {'reused'}
  end
elseif ARGV[9] ~= '' then
  arrival = ARGV[9]
else
  arrival = tostring(redis.call('INCR', KEYS[3]))
end
local out = {'new', arrival, counted and '0' or '1'}
local at = 13
for i = 1, n do
  local key = KEYS[6 + i]
  local kind, lower, trim, tail = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local cap, keep, windows = tonumber(ARGV[at + 4]), ARGV[at + 5], tonumber(ARGV[at + 6])
  at = at + 7
  local member = txid .. '|'
  if tail ~= '' then member = txid .. '|' .. arrival .. '|' .. tail end
  if ARGV[8] == '1' then
    -- Only the cap's latest-dated members count; those dated after t take their places.
    local room = cap - redis.call('ZCOUNT', key, '(' .. score, '+inf')
    if room < 0 then room = 0 end
    if kind == 'members' then
      local got = {}
      if room > 0 then
        -- One more than the room: the transaction's own member, if counted, is skipped.
        local extra = counted and 1 or 0
        got = redis.call('ZREVRANGEBYSCORE', key, score, lower, 'WITHSCORES', 'LIMIT', 0,
          room + extra)
      end
      local kept = {}
      for j = 1, #got, 2 do
        if got[j] ~= member and #kept < 2 * room then
          kept[#kept + 1] = got[j]
          kept[#kept + 1] = got[j + 1]
        end
      end
      out[#out + 1] = kept
    else
      local own = counted and redis.call('ZSCORE', key, member)
      local counts = {}
      for w = 1, windows do
        local bound = ARGV[at + w - 1]
        local c = redis.call('ZCOUNT', key, bound, score)
        if own and tonumber(own) > tonumber(string.sub(bound, 2)) and tonumber(own) <= t then
          c = c - 1
        end
        if c > room then c = room end
        counts[w] = c
      end
      out[#out + 1] = counts
    end
  end
  at = at + windows
  if not counted then
    redis.call('ZADD', key, score, member)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', trim)
    -- Keep the latest-dated cap + slack members (a no-op below that size).
    redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(keep) + 1))
    redis.call('EXPIRE', key, ttl)
  end
end
if not counted then
  -- The transaction's record: its arrival number, which with the request's own keys and
  -- member tails names every member ABANDON must remove; its owner and attempt.
  redis.call('SET', KEYS[2], arrival .. '|' .. ARGV[10] .. '|' .. ARGV[11], 'EX', ttl)
  if ARGV[12] ~= '' then
    -- Until FINISH or ABANDON removes it, the entry tells a reaper this attempt counted a
    -- transaction whose answer is not known yet; scored by the server's clock (ms).
    local now = redis.call('TIME')
    redis.call('ZADD', KEYS[6], now[1] .. string.format('%03d', math.floor(now[2] / 1000)),
      ARGV[12])
  end
end
return out
"""
)

# Undo one attempt: remove what it counted (only if the transaction record names this
# attempt: a transaction counted by an earlier attempt stays) and its own pending claim.
# With a fence TTL, first fence the attempt, so a BEGIN still on its way (sent before a
# timeout) does nothing when it runs: whichever runs first, nothing of the attempt stays.
# A reaper's undo (ARGV 6 = the done record's prefix) first looks at the transaction_id's
# idempotency record: a done record means the transaction was answered (its entry leaves
# the register, its count stays); a pending one, that a retry is being answered now (all
# stays, judged again later).
# KEYS: 1 idempotency record, 2 transaction record, 3 the attempt's fence, 4 the attempts
#       register, 5.. entity sets.
# ARGV: 1 pending value, 2 transaction_id, 3 attempt, 4 fence ttl (ms, '' = no fence),
#       5 the attempt's register entry ('' = none), 6 the done prefix ('' = not a reaper),
#       7.. each set's member tail.
# Answer: 'undone' | 'none' (nothing of the attempt was counted) | 'answered' | 'claimed'.
ABANDON = (
    _PARSE_RECORD
    + """
if ARGV[6] ~= '' then
  local claim = redis.call('GET', KEYS[1])
  if claim then
    if string.sub(claim, 1, #ARGV[6]) == ARGV[6] then
      redis.call('ZREM', KEYS[4], ARGV[5])
      return 'answered'
    end
    return 'claimed'
  end
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], '1', 'PX', ARGV[4]) end
local status = 'none'
local record = redis.call('GET', KEYS[2])
if record then
  local arrival, _, attempt = parse(record)
  if attempt ~= '' and attempt == ARGV[3] then
    for i = 5, #KEYS do
      local member = ARGV[2] .. '|'
      if ARGV[i + 2] ~= '' then member = ARGV[2] .. '|' .. arrival .. '|' .. ARGV[i + 2] end
      redis.call('ZREM', KEYS[i], member)
    end
    redis.call('DEL', KEYS[2])
    status = 'undone'
  end
end
if ARGV[5] ~= '' then redis.call('ZREM', KEYS[4], ARGV[5]) end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return status
"""
)

# Only ever moves the arrival counter forward (a rebuild: new transactions number after
# the rebuilt ones). KEYS: 1 the counter. ARGV: 1 the least value it must hold.
RAISE_COUNTER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
