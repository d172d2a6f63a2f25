/**
 * Shared stage state as one Redis script, the twin of `logic.ts` and `memory.ts` (change them
 * together; test/support/shared-state-cases.ts runs the same cases against each). One call
 * touches one shard: its keys share a hash tag, so the call runs on one Redis Cluster slot.
 *
 * KEYS: 1 due windows (zset: member `start|end|series` → close time or lease end, ms), 2 closed
 * (hash: series → end of its latest claimed window), 3 last (hash: series → sequence history JSON).
 * ARGV: 1 mode (`apply` | `claim` | `finish`), 2 prefix of the per-window point hashes (same tag), then
 * - apply, on a single instance only: `K`, due, closed, last, prefix switches to another shard's keys
 * - apply: per op either `w`, member, series, start, closeAt, t, data (or `W`, count, those six
 *   fields of `count` ops joined by \1, in one argument)
 *   or `s`, series, t, mode (`c` changed, `d` dedupe, `r` rate), p1, p2, size, n, n values, n deadbands
 *   (dedupe: p1 = withinMs or -1; rate: p1 = ns per unit, p2 = 1 when a drop is a counter reset)
 *   or `n`, node hash key, action, device, seq, tolerance, bdSeq, n, n set entries, m, m get fields
 *   (a Sparkplug edge node, the twin of `node-logic.ts`)
 * - claim: now, leaseMs, limit → flat pairs of member, points (flat time key, data)
 * - finish: keepMs, members…
 * Every value is a string, never a Lua number read back through cjson (which keeps 14 digits).
 */
import { NODE_LUA } from './lua-node.js';

export const STAGE_STATE_SCRIPT = String.raw`
local mode = ARGV[1]
local prefix = ARGV[2]

local function dns(a, b)
  return (tonumber(string.sub(a, 1, 11)) - tonumber(string.sub(b, 1, 11))) * 1e9
    + (tonumber(string.sub(a, 12)) - tonumber(string.sub(b, 12)))
end

local function num(e)
  local c = string.sub(e, 1, 1)
  if c ~= 'n' and c ~= 'i' then return nil end
  local x = tonumber(string.sub(e, 2))
  if x == nil or x ~= x then return nil end
  return x
end

local function decide(h, pos, t, m, p1, p2, vals, bands)
  local prev = h[pos - 1]
  local n = #vals
  if m == 'c' then
    if not prev then return 'e' end
    for j = 1, n do if vals[j] ~= prev[j + 2] then return 'e' end end
    return 'd'
  end
  if m == 'd' then
    local last = nil
    local i = pos - 1
    while i >= 1 and not last do
      if h[i][2] == 'e' then last = h[i] end
      i = i - 1
    end
    if not last then return 'e' end
    if p1 >= 0 and dns(t, last[1]) >= p1 * 1e6 then return 'e' end
    for j = 1, n do
      local a, b = vals[j], last[j + 2]
      if a ~= b then
        local x, y = num(a), num(b)
        if not (bands[j] >= 0 and x and y and math.abs(x - y) <= bands[j]) then return 'e' end
      end
    end
    return 'd'
  end
  if not prev then return 'd' end
  local dt = dns(t, prev[1])
  local outs, any = {}, false
  for j = 1, n do
    local x, y = num(vals[j]), num(prev[j + 2])
    if x == nil or y == nil then
      outs[j] = ''
    else
      local d = x - y
      if p2 == 1 and d < 0 then d = x end
      local r = d / (dt / p1)
      if r == 0 then r = 0 end
      outs[j] = string.format('%.17g', r)
      any = true
    end
  end
  if any then return 'r' .. table.concat(outs, ',') end
  return 'd'
end

local function step(h, t, m, p1, p2, size, vals, bands)
  for _, e in ipairs(h) do if e[1] == t then return e[2] end end
  if #h >= size and #h > 0 and t < h[1][1] then return 'o' end
  local pos = #h + 1
  while pos > 1 and h[pos - 1][1] > t do pos = pos - 1 end
  local out = decide(h, pos, t, m, p1, p2, vals, bands)
  local e = { t, out }
  for j = 1, #vals do e[j + 2] = vals[j] end
  table.insert(h, pos, e)
  if #h > size then table.remove(h, 1) end
  return out
end


${NODE_LUA}
if mode == 'apply' then
  local KD, KC, KL = KEYS[1], KEYS[2], KEYS[3]
  local out, closed, registered, histories, order, lastKey = {}, {}, {}, {}, {}, {}
  local function addpoint(member, series, start, closeAt, t, data)
    local c = closed[series]
    if c == nil then c = tonumber(redis.call('HGET', KC, series) or '') or false; closed[series] = c end
    if c and c > tonumber(start) then
      if redis.call('HEXISTS', prefix .. member, t) == 1 then out[#out + 1] = 'dup' else out[#out + 1] = 'late' end
    else
      redis.call('HSETNX', prefix .. member, t, data)
      if not registered[member] then
        redis.call('ZADD', KD, 'NX', closeAt, member)
        registered[member] = true
      end
      out[#out + 1] = 'ok'
    end
  end
  local i = 3
  while i <= #ARGV do
    if ARGV[i] == 'K' then
      -- Another shard's keys (single instance only: one call for a whole batch).
      KD, KC, KL, prefix = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      i = i + 5
    elseif ARGV[i] == 'w' then
      addpoint(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
      i = i + 7
    elseif ARGV[i] == 'W' then
      local packed, pos, f = ARGV[i + 2], 1, {}
      for _ = 1, tonumber(ARGV[i + 1]) do
        for j = 1, 6 do
          local e = string.find(packed, '', pos, true) or (#packed + 1)
          f[j] = string.sub(packed, pos, e - 1)
          pos = e + 1
        end
        addpoint(f[1], f[2], f[3], f[4], f[5], f[6])
      end
      i = i + 3
    elseif ARGV[i] == 'n' then
      local key, action, device = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
      local seq, tol, bd = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), ARGV[i + 6]
      local ns = tonumber(ARGV[i + 7])
      local sets = {}
      for j = 1, ns do sets[j] = ARGV[i + 7 + j] end
      local ng = tonumber(ARGV[i + 8 + ns])
      local gets = {}
      for j = 1, ng do gets[j] = ARGV[i + 8 + ns + j] end
      out[#out + 1] = nodeop(key, action, device, seq, tol, bd, sets, gets)
      i = i + 9 + ns + ng
    else
      local series, t, m = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
      local p1, p2, size, n = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
      local vals, bands = {}, {}
      for j = 1, n do vals[j] = ARGV[i + 7 + j]; bands[j] = tonumber(ARGV[i + 7 + n + j]) end
      local h = histories[series]
      if h == nil then
        local raw = redis.call('HGET', KL, series)
        h = raw and cjson.decode(raw) or {}
        histories[series] = h
        order[#order + 1] = series
        lastKey[series] = KL
      end
      out[#out + 1] = step(h, t, m, p1, p2, size, vals, bands)
      i = i + 8 + 2 * n
    end
  end
  for _, series in ipairs(order) do
    local h = histories[series]
    if #h > 0 then redis.call('HSET', lastKey[series], series, cjson.encode(h)) end
  end
  return out
end

if mode == 'claim' then
  local now, lease, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local out = {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)) do
    redis.call('ZADD', KEYS[1], now + lease, m)
    local a = string.find(m, '|', 1, true)
    local b = string.find(m, '|', a + 1, true)
    local e, series = string.sub(m, a + 1, b - 1), string.sub(m, b + 1)
    local c = tonumber(redis.call('HGET', KEYS[2], series) or '')
    if c == nil or c < tonumber(e) then redis.call('HSET', KEYS[2], series, e) end
    out[#out + 1] = m
    out[#out + 1] = redis.call('HGETALL', prefix .. m)
  end
  return out
end

local keep = tonumber(ARGV[3])
for i = 4, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('PEXPIRE', prefix .. ARGV[i], keep)
end
return #ARGV - 3
`;
