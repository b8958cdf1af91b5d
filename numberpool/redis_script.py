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
--   8 addr   HASH    client address(16) -> its live leases      (anti-draining counts; a
--   9 net    HASH    client network(16) -> its live leases       restored pool starts them
--  10 hold   HASH    number -> address(16) .. network(16)        at zero: the log keeps no
--                    of its live lease's client                   addresses)
--  11 rate   HASH    m -> minute (epoch ms // 60000), n -> new leases started in it
-- Ids are 16-byte UUIDs; a missing visitor is 16 zero bytes. Times are integer milliseconds.
-- ARGV: 1 op, then for lease/ping/release/sweep/stats: 2 now, 3 idle, 4 cooldown, 5 max_lease,
--       6 session, 7 visitor; for lease/ping also 8 client address, 9 its network (16 bytes
--       each, or empty: unknown), and with drain limits 10 leases per address, 11 per network,
--       12 new leases per minute as a share of the pool's size, 13 at least that many;
--       for restore: 2 token, then 8 fields per number; for unlock: 2 token.
-- Replies: {status, number, generation, started, expires, is_new, closed...} where closed is
-- (number, generation, ended) triples of leases this step ended.

local K_READY, K_IDLE, K_EXP, K_NUM = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_SESS, K_VIS, K_LOCK = KEYS[5], KEYS[6], KEYS[7]
local K_ADDR, K_NET, K_HOLD, K_RATE = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
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
  redis.call('DEL', K_IDLE, K_EXP, K_NUM, K_SESS, K_VIS, K_ADDR, K_NET, K_HOLD, K_RATE)
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
local client_addr, client_net = ARGV[8] or '', ARGV[9] or ''
local client_known = client_addr ~= '' and client_addr ~= NONE
local cap_addr, cap_net = tonumber(ARGV[10] or ''), tonumber(ARGV[11] or '')
local rate_share, rate_min = tonumber(ARGV[12] or ''), tonumber(ARGV[13] or '')
local minute = math.floor(now / 60000)

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

local function count(key, field, delta)
  if redis.call('HINCRBY', key, field, delta) <= 0 then
    redis.call('HDEL', key, field) -- the counts stay as small as the live leases
  end
end

local function unhold(id)
  local holder = redis.call('HGET', K_HOLD, id)
  if holder then
    redis.call('HDEL', K_HOLD, id)
    count(K_ADDR, string.sub(holder, 1, 16), -1)
    count(K_NET, string.sub(holder, 17, 32), -1)
  end
end

local function started_this_minute()
  local window = redis.call('HMGET', K_RATE, 'm', 'n')
  if tonumber(window[1]) == minute then
    return tonumber(window[2])
  end
  return 0
end

-- Whether starting a lease on n (nil: a free number) breaks a drain limit; nil if not.
local function refusal(n)
  if not cap_addr then
    return nil
  end
  local live = n ~= nil and expires_of(n) ~= nil
  local holder = nil
  if live then
    holder = redis.call('HGET', K_HOLD, n.id) or nil
  end
  if client_known then
    if (not holder or string.sub(holder, 1, 16) ~= client_addr)
        and (tonumber(redis.call('HGET', K_ADDR, client_addr)) or 0) >= cap_addr then
      return 'address_cap'
    end
    if (not holder or string.sub(holder, 17, 32) ~= client_net)
        and (tonumber(redis.call('HGET', K_NET, client_net)) or 0) >= cap_net then
      return 'network_cap'
    end
  end
  if not live then
    local cap = math.max(rate_min, math.ceil(redis.call('HLEN', K_NUM) * rate_share))
    if started_this_minute() >= cap then
      return 'rate_cap'
    end
  end
  return nil
end

local function refuse(reason)
  local out = reply('refused')
  out[2] = reason
  return out
end

local function end_lease(n, ended, capped)
  unhold(n.id)
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
  if expires_of(n) then
    unhold(n.id) -- a live lease taken over: its client's count moves to the new one
  elseif started_this_minute() > 0 then
    redis.call('HINCRBY', K_RATE, 'n', 1)
  else
    redis.call('HSET', K_RATE, 'm', minute, 'n', 1)
  end
  if client_known then
    redis.call('HSET', K_HOLD, n.id, client_addr .. client_net)
    count(K_ADDR, client_addr, 1)
    count(K_NET, client_net, 1)
  end
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

local function start_checked(n, session, visitor)
  local refused = refusal(n)
  if refused then
    return refuse(refused)
  end
  return start(n, session, visitor)
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
        return start_checked(own, session, visitor)
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
          local refused = refusal(mine)
          if refused then
            return refuse(refused)
          end
          close(mine, now)
          return start(mine, session, visitor)
        end
        if not mine.capped and cooling(mine) then
          return start_checked(mine, session, visitor)
        end
      end
    end
  end
  if ping and not known then
    return reply('notheld')
  end
  -- Checked before a free number is looked for: a client at its cap is refused even when the
  -- pool is full, so its sessions never count as the pool being too small.
  local refused = refusal(nil)
  if refused then
    return refuse(refused)
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
