"""The Redis store's server-side script (Lua), kept in a module so it ships with the package.

Loaded once per server with SCRIPT LOAD and called by SHA; redis-py reloads it on NOSCRIPT (after
a restart or a failover), so no deployment step is needed.
"""

POOL_LUA = r"""
-- The number pool engine in Redis: every call is one atomic step of one pool.
-- Mirrors numberpool/embedded_store.py step for step; the same tests run against both.
--
-- KEYS (all carry the pool's hash tag {pool:<id>}, so a pool lives in one cluster slot):
--   1 ready  STRING  run_id of the server the pool was rebuilt on; anything else means "rebuild"
--   2 idle   ZSET    numbers not leased, score released_ms * 1024 + min(generation, 1023)
--   3 exp    ZSET    leased numbers, score expires_ms
--   4 num    HASH    number -> "<generation>" or
--                    "<generation><h|c><started_ms>" .. session(16 bytes) .. visitor(16 bytes)
--                    while it has a last holder (c: that lease hit max_lease)
--   5 sess   HASH    session(16) -> number it holds or last held
--   6 vis    HASH    visitor(16) -> number it holds or last held
--   7 lock   STRING  rebuild lock token
-- Ids are 16-byte UUIDs; a missing visitor is 16 zero bytes. Times are integer milliseconds.
-- ARGV: 1 op, then for lease/ping/release/sweep/stats: 2 now, 3 idle, 4 cooldown, 5 max_lease,
--       6 session, 7 visitor; for restore: 2 token, then 8 fields per number; for unlock: 2 token.
-- Replies: {status, number, generation, started, expires, is_new, closed...} where closed is
-- (number, generation, ended) triples of leases this step ended.

local K_READY, K_IDLE, K_EXP, K_NUM = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_SESS, K_VIS, K_LOCK = KEYS[5], KEYS[6], KEYS[7]
local SLOTS = 1024
local NONE = string.rep('\0', 16)
local op = ARGV[1]

-- Scores reach 2^50: Lua's tostring would print them in exponent form and lose digits.
local function fmt(x)
  return string.format('%.0f', x)
end

-- The run_id changes with every restart and differs on a promoted replica, so a pool restored
-- on another server (an RDB snapshot, a failover) is never served from its stale copy.
local function server_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
end

if op == 'restore' then
  if redis.call('GET', K_LOCK) ~= ARGV[2] then
    return {'stale'}
  end
  if redis.call('GET', K_READY) == server_id() then
    -- Another caller rebuilt it between our finding it missing and taking the lock, and may
    -- have leased from it already: the log lags those leases, so restoring would hand their
    -- numbers out again.
    redis.call('DEL', K_LOCK)
    return {'ready'}
  end
  redis.call('DEL', K_IDLE, K_EXP, K_NUM, K_SESS, K_VIS)
  for i = 3, #ARGV, 8 do
    local id, gen, state = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local session, visitor, started = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
    local untl, flag = tonumber(ARGV[i + 6]), ARGV[i + 7]
    if state == 'F' then
      redis.call('HSET', K_NUM, id, gen)
    else
      redis.call('HSET', K_NUM, id, gen .. flag .. started .. session .. visitor)
      redis.call('HSET', K_SESS, session, id)
      if visitor ~= NONE then
        redis.call('HSET', K_VIS, visitor, id)
      end
    end
    if state == 'L' then
      redis.call('ZADD', K_EXP, fmt(untl), id)
    else
      redis.call('ZADD', K_IDLE, fmt(untl * SLOTS + math.min(tonumber(gen), SLOTS - 1)), id)
    end
  end
  redis.call('SET', K_READY, server_id())
  redis.call('DEL', K_LOCK)
  return {'restored'}
end

if op == 'unlock' then
  if redis.call('GET', K_LOCK) == ARGV[2] then
    redis.call('DEL', K_LOCK)
  end
  return {'unlocked'}
end

if redis.call('GET', K_READY) ~= server_id() then
  return {'rebuild'}
end

local now, idle_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown_ms, max_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local closed = {}

local function load(id)
  local rec = redis.call('HGET', K_NUM, id)
  if not rec then
    return nil
  end
  local n = {id = id}
  local len = #rec
  if len > 32 then
    local gen, flag, started = string.match(string.sub(rec, 1, len - 32), '^(%d+)([hc])(%d+)$')
    n.gen, n.capped, n.started = tonumber(gen), flag == 'c', tonumber(started)
    n.session, n.visitor = string.sub(rec, len - 31, len - 16), string.sub(rec, len - 15, len)
  else
    n.gen = tonumber(rec)
  end
  return n
end

local function save(n)
  local flag = n.capped and 'c' or 'h'
  redis.call('HSET', K_NUM, n.id, fmt(n.gen) .. flag .. fmt(n.started) .. n.session .. n.visitor)
end

local function expires_of(n)
  return tonumber(redis.call('ZSCORE', K_EXP, n.id))
end

local function cooling(n)
  local score = tonumber(redis.call('ZSCORE', K_IDLE, n.id))
  return score ~= nil and math.floor(score / SLOTS) + cooldown_ms > now
end

local function reply(status, n, expires, is_new)
  local out = {status, '', 0, 0, 0, 0}
  if n then
    out = {status, n.id, n.gen, n.started, expires, is_new}
  end
  for i = 1, #closed do
    out[#out + 1] = closed[i]
  end
  return out
end

local function close(n, ended)
  closed[#closed + 1] = n.id
  closed[#closed + 1] = n.gen
  closed[#closed + 1] = ended
end

local function end_lease(n, ended, capped)
  redis.call('ZREM', K_EXP, n.id)
  if n.session and capped ~= n.capped then
    n.capped = capped
    save(n)
  end
  redis.call('ZADD', K_IDLE, fmt(ended * SLOTS + math.min(n.gen, SLOTS - 1)), n.id)
  close(n, ended)
end

local function sweep()
  local due = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', fmt(now), 'WITHSCORES')
  for i = 1, #due, 2 do
    local n = load(due[i])
    local expires = tonumber(due[i + 1])
    if n then
      end_lease(n, expires, n.session ~= nil and expires >= n.started + max_ms)
    else
      redis.call('ZREM', K_EXP, due[i])
    end
  end
end

local function extend(n)
  local expires = math.min(now + idle_ms, n.started + max_ms)
  redis.call('ZADD', K_EXP, fmt(expires), n.id)
  return reply('lease', n, expires, 0)
end

local function start(n, session, visitor)
  if n.session then
    -- The previous holder's pointers go, unless they already point elsewhere.
    if n.session ~= session and redis.call('HGET', K_SESS, n.session) == n.id then
      redis.call('HDEL', K_SESS, n.session)
    end
    if n.visitor ~= NONE and n.visitor ~= visitor
        and redis.call('HGET', K_VIS, n.visitor) == n.id then
      redis.call('HDEL', K_VIS, n.visitor)
    end
  end
  n.gen, n.session, n.visitor, n.started, n.capped = n.gen + 1, session, visitor, now, false
  save(n)
  redis.call('ZREM', K_IDLE, n.id)
  redis.call('HSET', K_SESS, session, n.id)
  if visitor ~= NONE then
    redis.call('HSET', K_VIS, visitor, n.id)
  end
  local expires = math.min(now + idle_ms, now + max_ms)
  redis.call('ZADD', K_EXP, fmt(expires), n.id)
  return reply('lease', n, expires, 1)
end

local function serve(session, visitor, ping)
  local skip = nil
  local known = false
  local own_id = redis.call('HGET', K_SESS, session)
  if own_id then
    local own = load(own_id)
    if own and own.session == session then
      known = true
      if expires_of(own) then
        return extend(own)
      end
      if own.capped then
        skip = own_id -- max_lease is up: this session gets another number
      elseif cooling(own) then
        return start(own, session, visitor)
      end
    else
      redis.call('HDEL', K_SESS, session)
    end
  end
  if visitor ~= NONE then
    local mine_id = redis.call('HGET', K_VIS, visitor)
    if mine_id and mine_id ~= skip then
      local mine = load(mine_id)
      if mine and mine.visitor == visitor then
        if expires_of(mine) then
          if ping then
            return extend(mine) -- another tab of the visitor keeps it alive
          end
          -- A new session of the same visitor takes the lease over.
          close(mine, now)
          return start(mine, session, visitor)
        end
        if not mine.capped and cooling(mine) then
          return start(mine, session, visitor)
        end
      end
    end
  end
  if ping and not known then
    return reply('notheld')
  end
  local latest = fmt((now - cooldown_ms) * SLOTS + SLOTS - 1)
  local head = redis.call('ZRANGEBYSCORE', K_IDLE, '-inf', latest, 'LIMIT', 0, 1)
  if #head == 0 then
    return reply('exhausted')
  end
  return start(load(head[1]), session, visitor)
end

if op == 'stats' then
  local rested = now - cooldown_ms
  local leased = redis.call('ZCOUNT', K_EXP, '(' .. fmt(now), '+inf')
  local expired = redis.call('ZCOUNT', K_EXP, '(' .. fmt(rested), fmt(now))
  local resting = redis.call('ZCOUNT', K_IDLE, '(' .. fmt(rested * SLOTS + SLOTS - 1), '+inf')
  return {'stats', redis.call('HLEN', K_NUM), leased, expired + resting}
end

sweep()
if op == 'lease' then
  return serve(ARGV[6], ARGV[7], false)
elseif op == 'ping' then
  return serve(ARGV[6], ARGV[7], true)
elseif op == 'release' then
  local own_id = redis.call('HGET', K_SESS, ARGV[6])
  if own_id then
    local own = load(own_id)
    if own and own.session == ARGV[6] and expires_of(own) then
      end_lease(own, now, false)
    end
  end
end
return reply('swept')
"""
