/**
 * The alert state machine as one Redis script, the twin of `state-machine.ts` (change both
 * together; test/support/alert-cases.ts runs the same cases against each). One call per batch applies every
 * observation atomically, so workers sharing a device's messages see one state; transitions go
 * to an outbox in the same step, so a crash before they reach BullMQ loses nothing.
 *
 * KEYS: 1 state hash (ruleId|series → JSON), 2 deadman deadlines (zset, ms), 3 outbox hash
 * (job id → transition JSON), 4 outbox leases (zset, ms), 5 sweep lock.
 * ARGV: 1 `apply` | `sweep`, 2 the JSON payload: a SweepPayload, or a BatchPayload in the flat form
 * `store.ts` writes (`applyWire`).
 * A sweep leaves the due series of a held rule (`hold`: rule id → ms) as they are and looks at
 * them again once the hold ends.
 * Times are 20-digit ns strings; differences are computed exactly from their two halves.
 */
export const ALERT_SCRIPT = String.raw`
local p = cjson.decode(ARGV[2])
local now, nowT, worker = p.now, p.nowT, p.workerId

local function dns(a, b)
  return (tonumber(string.sub(a, 1, 11)) - tonumber(string.sub(b, 1, 11))) * 1e9
    + (tonumber(string.sub(a, 12)) - tonumber(string.sub(b, 12)))
end

local function ms(t)
  return tonumber(string.sub(t, 1, 14)) + tonumber(string.sub(t, 15)) / 1e6
end

local function load(field)
  local raw = redis.call('HGET', KEYS[1], field)
  if raw then return cjson.decode(raw) end
  return { s = 'inactive' }
end

local function emitter(out)
  return function(tr)
    local json = cjson.encode(tr)
    redis.call('HSET', KEYS[3], tr.id, json)
    redis.call('ZADD', KEYS[4], now, tr.id)
    out[#out + 1] = json
  end
end

local function notify(rule, series, rec, state, rep, t, value, emit)
  local tr = {
    id = 'alert-' .. redis.sha1hex(rule.id .. '|' .. series .. '|' .. state .. '|' .. t),
    ruleId = rule.id, severity = rule.severity, labels = rule.labels, field = rule.field, series = series,
    state = state, t = t, value = value, startsAt = rec.fs, workerId = worker,
  }
  tr['repeat'] = rep
  if state == 'resolved' then tr.endsAt = t end
  emit(tr)
end

local function fire(rule, series, rec, t, value, emit)
  rec.s, rec.fs, rec.nt, rec.ps = 'firing', t, t, nil
  notify(rule, series, rec, 'firing', false, t, value, emit)
end

local function step(rule, series, rec, o, emit)
  local t, c, value = o[1], o[2], o[3]
  -- Keys are 20 digits: compared as strings, exactly and far cheaper than dns() in Lua.
  if rec.t and not (t > rec.t) then return end
  rec.t = t
  if rule.kind == 'rate' then
    local pv, pt = tonumber(rec.pv), rec.pt
    rec.pv, rec.pt = string.format('%.17g', value), t
    c = 'n'
    if pv and pt then
      local rate = (value - pv) / (dns(t, pt) / 1e9)
      if rule.direction == 'fall' then rate = -rate elseif rule.direction == 'any' then rate = math.abs(rate) end
      value = rate
      if rate >= rule.fire then c = 'f' elseif rate <= rule.clear then c = 'c' end
    end
  end
  if rec.s == 'firing' then
    if c == 'c' then
      rec.s = 'resolved'
      notify(rule, series, rec, 'resolved', false, t, value, emit)
      rec.fs, rec.nt = nil, nil
    elseif rule.repeatMs > 0 and rec.nt and dns(t, rec.nt) >= rule.repeatMs * 1e6 then
      rec.nt = t
      notify(rule, series, rec, 'firing', true, t, value, emit)
    end
  elseif rec.s == 'pending' then
    if c == 'c' then
      rec.s, rec.ps = 'inactive', nil
    elseif c == 'f' and rec.ps and dns(t, rec.ps) >= rule.forMs * 1e6 then
      fire(rule, series, rec, t, value, emit)
    end
  elseif c == 'f' then
    if rule.forMs > 0 then rec.s, rec.ps = 'pending', t else fire(rule, series, rec, t, value, emit) end
  end
end

-- Many fields per command instead of a command per series: calls from a script cost more than
-- their work. Chunks stay well below Lua's unpack limit.
local function chunked(cmd, key, args, width)
  for i = 1, #args, width do
    redis.call(cmd, key, unpack(args, i, math.min(i + width - 1, #args)))
  end
end

if ARGV[1] == 'apply' then
  local out = {}
  local emit = emitter(out)
  -- p.s: the batch's series keys; p.g, flat: per group a rule id, its series' index in p.s, the
  -- count n, then n times a time key, a signal and a value (null: none). Flat, because a table per
  -- group and observation made decoding the payload a third of the script's time.
  local g, series = p.g, p.s
  local fields, ruleIds, seriesOf, starts, counts = {}, {}, {}, {}, {}
  local n, k = 0, 1
  while k <= #g do
    n = n + 1
    ruleIds[n], seriesOf[n], counts[n], starts[n] = g[k], series[g[k + 1]], g[k + 2], k + 3
    fields[n] = g[k] .. '|' .. seriesOf[n]
    k = k + 3 + 3 * g[k + 2]
  end
  local raws = {}
  for i = 1, n, 1000 do
    local part = redis.call('HMGET', KEYS[1], unpack(fields, i, math.min(i + 999, n)))
    for j, raw in ipairs(part) do raws[i + j - 1] = raw end
  end
  local writes, deadlines, o = {}, {}, {}
  for i = 1, n do
    local rule = p.rules[ruleIds[i]]
    if rule then
      local raw = raws[i]
      local rec = raw and cjson.decode(raw) or { s = 'inactive' }
      local before = rec.s
      for at = starts[i], starts[i] + 3 * counts[i] - 1, 3 do
        local value = g[at + 2]
        if value == cjson.null then value = nil end
        o[1], o[2], o[3] = g[at], g[at + 1], value
        step(rule, seriesOf[i], rec, o, emit)
      end
      -- A quiet deadman changed only its last-seen time, which a firing one needs (the sweep sets
      -- it when firing): not rewritten, which saves about half of a batch's state writes.
      if not (rule.kind == 'absent' and raw and rec.s == before and rec.s ~= 'firing') then
        local json = cjson.encode(rec)
        if json ~= raw then writes[#writes + 1] = fields[i]; writes[#writes + 1] = json end
      end
      if rule.kind == 'absent' then deadlines[#deadlines + 1] = now + rule.afterMs; deadlines[#deadlines + 1] = fields[i] end
    end
  end
  chunked('HSET', KEYS[1], writes, 2000)
  chunked('ZADD', KEYS[2], deadlines, 2000)
  return out
end

if not redis.call('SET', KEYS[5], worker, 'NX', 'PX', p.lockMs) then return { 'skipped', {}, {} } end
local out = {}
local emit = emitter(out)
local hold = p.hold or {}
for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, p.limit)) do
  local sep = string.find(field, '|', 1, true)
  local ruleId = string.sub(field, 1, sep - 1)
  local rule = p.rules[ruleId]
  local wait = hold[ruleId]
  if not rule then
    redis.call('ZREM', KEYS[2], field)
  elseif type(wait) == 'number' then
    redis.call('ZADD', KEYS[2], now + wait, field)
  else
    local series = string.sub(field, sep + 1)
    local rec = load(field)
    step(rule, series, rec, { nowT, 'f' }, emit)
    redis.call('HSET', KEYS[1], field, cjson.encode(rec))
    local due = nil
    if rec.s == 'pending' and rec.ps then due = ms(rec.ps) + rule.forMs
    elseif rec.s == 'firing' then
      if rule.repeatMs > 0 and rec.nt then due = ms(rec.nt) + rule.repeatMs end
    else due = now + rule.afterMs end
    if due then redis.call('ZADD', KEYS[2], due, field) else redis.call('ZREM', KEYS[2], field) end
  end
end
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - p.graceMs, 'LIMIT', 0, p.claimLimit)) do
  local json = redis.call('HGET', KEYS[3], id)
  if json then
    redis.call('ZADD', KEYS[4], now, id)
    claimed[#claimed + 1] = json
  else
    redis.call('ZREM', KEYS[4], id)
  end
end
return { 'swept', out, claimed }
`;
