"""The online store's server-side steps (Lua, run atomically by Redis 6.2+ or Valkey).

Each step touches the keys of one hash slot (fraudit.online.plan.StoreKeys), so the store
runs on a Redis Cluster with its keys spread over every shard: a card request makes a
CLAIM in its transaction_id's bucket, then one ENTITY step per entity (card, merchant,
device, IP), each in that entity's slot, pipelined; FINISH is a plain PSETEX and ZREM in
the bucket. A request's undo is ABANDON_ENTITY in each entity's slot (when it counted or
sent entity steps), then ABANDON_RELEASE in the bucket; a reaper's starts with
REAP_PREPARE in the bucket.

Event-time bounds are computed in Python and passed as strings (`repr` of a double, with
`(` for an exclusive bound): Lua 5.1 formats numbers with 14 digits, which would move a
window's edge by microseconds. Scores come back with WITHSCORES, which Redis writes with 17
digits, so every time round-trips exactly.

Work per entity is bounded by its cap (rule 8 of docs/FEATURES.md): a step reads at most
`cap` members (ZCOUNT of those dated after t, then ZREVRANGEBYSCORE ... LIMIT of the rest)
and a set keeps at most `cap + slack` (ZREMRANGEBYRANK), whatever the entity's traffic.
"""

from __future__ import annotations

# Lua functions more than one step uses, prefixed to those steps' text.
# The server's clock in ms (a score for registers and counters).
_CLOCK_MS = """
local function clock_ms()
  local now = redis.call('TIME')
  return now[1] .. string.format('%03d', math.floor(now[2] / 1000))
end
"""
# Whether a transaction record (`owner|attempt`) names `attempt` (never the empty one).
_NAMES_ATTEMPT = """
local function names_attempt(record, attempt)
  return record and attempt ~= '' and string.match(record, '^[^|]*|(.*)$') == attempt
end
"""

# The transaction record: `owner|attempt`, the body's fingerprint ('' without a
# transaction_id) and the nonce of the attempt that counts it ('' for a rebuild's replay).
# KEYS: 1 idempotency record, 2 transaction record, 3 this attempt's fence, 4 the bucket's
#       rebuild marker, 5 the bucket's attempts register.
# ARGV: 1 claim ('1' or '0'), 2 pending value, 3 claim ttl (ms), 4 state ttl (s),
#       5 a card transaction to count ('1' or '0'), 6 a rebuild's replay ('1' or '0'),
#       7 owner, 8 attempt, 9 the attempt's register entry ('' = none).
# A fenced attempt (its client gave up and ABANDON ran first) does nothing. While a rebuild
# runs, a live card transaction is refused ({'rebuilding'}, nothing written): it would be
# scored on a partial history. A claim that finds the transaction counted under another
# owner is a transaction_id reused with another body after its idempotency record expired:
# the claim is dropped, the answer {'reused'}. Otherwise the entity steps follow:
# {'count'} when this attempt counts the transaction (the record names it, and the
# register holds it until FINISH or ABANDON), {'counted'} when an earlier attempt did.
# Answer: {'fenced'} | {'rebuilding'} | {'seen', record} | {'reused'} | {'new'}
#       | {'count'} | {'counted'}
CLAIM = (
    _CLOCK_MS
    + """
if redis.call('EXISTS', KEYS[3]) == 1 then return {'fenced'} end
if ARGV[5] == '1' and ARGV[6] == '0' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {'rebuilding'}
end
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {'seen', seen} end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
if ARGV[5] == '0' then return {'new'} end
local record = redis.call('GET', KEYS[2])
if record then
  local owner = string.match(record, '^([^|]*)|') or ''
  if ARGV[1] == '1' and owner ~= '' and owner ~= ARGV[7] then
    redis.call('DEL', KEYS[1])
    return {'reused'}
  end
  return {'counted'}
end
redis.call('SET', KEYS[2], ARGV[7] .. '|' .. ARGV[8], 'EX', ARGV[4])
if ARGV[9] ~= '' then
  -- Until FINISH or ABANDON removes it, the entry tells a reaper this attempt may have
  -- counted a transaction whose answer is not known yet; scored by the server's clock (ms).
  redis.call('ZADD', KEYS[5], clock_ms(), ARGV[9])
end
return {'count'}
"""
)

# One entity's step: count the transaction in the entity's set unless it already is there
# (a retry, a replay: the step is idempotent), and read what the set held before it.
# The arrival number is the entity's own: its counter is the set's member `#` (no
# transaction_id starts with it), scored far above any event time, so no window read or
# trim by time ever meets it and it lives exactly as long as the set (no key of its own).
# It starts at the server's clock in ms, so a set lost with its data restarts past every
# number it gave (unless the entity received more than 1,000 transactions a second on
# average); a replay gives the number and raises the counter to it.
# KEYS: 1 the entity's set, 2 this attempt's fence there.
# ARGV: 1 transaction_id, 2 score, 3 read ('1' or '0'), 4 arrival given ('' = assign),
#       5 kind ('members' | 'counts'), 6 read lower bound, 7 trim bound, 8 member tail,
#       9 cap, 10 members kept, 11 state ttl (s), 12 window count, 13.. window bounds.
# Answer: {'fenced'} | {arrival, added ('1' | '0')} | {arrival, added, members or counts}
ENTITY = (
    _CLOCK_MS
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {'fenced'} end
local key, txid, score = KEYS[1], ARGV[1], ARGV[2]
local own = txid .. '|'
local ttl = tonumber(ARGV[11])
-- The transaction's own member, if counted before: at its own event time.
local arrival
for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, score, score)) do
  if string.sub(m, 1, #own) == own then
    arrival = string.match(m, '^[^|]*|(%d+)')
    break
  end
end
local counted = arrival ~= nil
if not counted and ARGV[4] == '' then
  local n = tonumber(redis.call('ZINCRBY', key, 1, '#'))
  if n == 1 then
    -- A new set: the counter starts at the clock.
    arrival = clock_ms()
    redis.call('ZADD', key, arrival, '#')
  else
    arrival = string.format('%.0f', n)
  end
elseif not counted then
  arrival = ARGV[4]
  if not redis.call('ZSCORE', key, '#') then redis.call('ZADD', key, clock_ms(), '#') end
  redis.call('ZADD', key, 'GT', arrival, '#')
end
local out = {arrival, counted and '0' or '1'}
local kind, lower, trim, tail = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local cap, keep, windows = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[12])
if ARGV[3] == '1' then
  -- Only the cap's latest-dated members count; those dated after t take their places
  -- (less the counter, which every set holding a member has).
  local later = redis.call('ZCOUNT', key, '(' .. score, '+inf') - 1
  local room = cap - later
  if room < 0 then room = 0 end
  if kind == 'members' then
    local got = {}
    if room > 0 then
      -- One more than the room: the transaction's own member, if counted, is skipped.
      local extra = counted and 1 or 0
      got = redis.call('ZREVRANGEBYSCORE', key, score, lower, 'WITHSCORES', 'LIMIT', 0,
        room + extra)
    end
    if counted then
      -- A retry's own member is among them: skip it, keeping at most the room.
      local kept = {}
      for j = 1, #got, 2 do
        if string.sub(got[j], 1, #own) ~= own and #kept < 2 * room then
          kept[#kept + 1] = got[j]
          kept[#kept + 1] = got[j + 1]
        end
      end
      got = kept
    end
    out[3] = got
  else
    local counts = {}
    for w = 1, windows do
      local c = redis.call('ZCOUNT', key, ARGV[12 + w], score)
      -- Its own member is at t, inside every window (t - w, t].
      if counted then c = c - 1 end
      if c > room then c = room end
      counts[w] = c
    end
    out[3] = counts
  end
end
if not counted then
  local member = own .. arrival
  if tail ~= '' then member = member .. '|' .. tail end
  redis.call('ZADD', key, score, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', trim)
  -- Keep the latest-dated cap + slack members and the counter (a no-op below that size).
  redis.call('ZREMRANGEBYRANK', key, 0, -(keep + 2))
  redis.call('EXPIRE', key, ttl)
end
return out
"""
)

# A reaper's first step, in the claim's bucket: it looks at the idempotency record. A done
# record means the transaction was answered (the entry leaves the register: 'answered');
# a pending one, that a retry is being answered now ('claimed': all stays, judged again
# later); none, and the reaper holds the claim itself (ARGV 3, for ARGV 4 ms) until
# ABANDON_RELEASE, so no retry reads the count while it is undone in the entities' slots.
# Then: 'undo' if the transaction record names the attempt (it counted the transaction),
# else 'keep' (a transaction counted by an earlier attempt stays).
# KEYS: 1 idempotency record, 2 transaction record, 3 the register.
# ARGV: 1 attempt, 2 register entry, 3 the reaper's hold, 4 its ttl (ms), 5 the done prefix.
REAP_PREPARE = (
    _NAMES_ATTEMPT
    + """
local claim = redis.call('GET', KEYS[1])
if claim then
  if string.sub(claim, 1, #ARGV[5]) == ARGV[5] then
    redis.call('ZREM', KEYS[3], ARGV[2])
    return 'answered'
  end
  return 'claimed'
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
local record = redis.call('GET', KEYS[2])
if names_attempt(record, ARGV[1]) then
  return 'undo'
end
return 'keep'
"""
)

# An undo in one entity's slot: the transaction's member removed ('1'), found at its event
# time by its transaction_id (and the set with it, if only the counter is left); with a
# fence TTL, the attempt fenced there first, so an entity step still on its way does
# nothing when it runs.
# KEYS: 1 the entity's set, 2 the attempt's fence there.
# ARGV: 1 transaction_id, 2 score, 3 fence ttl (ms, '' = none), 4 remove ('1' or '0').
# Answer: how many members it removed.
ABANDON_ENTITY = """
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
local removed = 0
if ARGV[4] == '1' then
  local own = ARGV[1] .. '|'
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
    if string.sub(m, 1, #own) == own then removed = removed + redis.call('ZREM', KEYS[1], m) end
  end
  -- A set left holding its counter alone goes: a new one restarts past its numbers.
  if removed > 0 and redis.call('ZCARD', KEYS[1]) == 1 then redis.call('DEL', KEYS[1]) end
end
return removed
"""

# An undo's last step, in the claim's bucket, once the entities' slots are done: the
# transaction record gone if it names this attempt, the attempt off the register, the claim
# released if it still is ARGV 3 (the request's own pending claim, or a reaper's hold).
# With a fence TTL, the attempt is fenced here first: its CLAIM's answer never came, so
# it may still run, and then does nothing; its entity steps were never sent.
# KEYS: 1 idempotency record, 2 transaction record, 3 the register, 4 the attempt's fence.
# ARGV: 1 attempt, 2 register entry ('' = none), 3 claim to release ('' = none),
#       4 fence ttl (ms, '' = no fence).
ABANDON_RELEASE = (
    _NAMES_ATTEMPT
    + """
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[4]) end
local record = redis.call('GET', KEYS[2])
if names_attempt(record, ARGV[1]) then
  redis.call('DEL', KEYS[2])
end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[1]) == ARGV[3] then
  redis.call('DEL', KEYS[1])
end
return 1
"""
)
