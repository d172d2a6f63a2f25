/**
 * The Sparkplug edge-node part of the stage-state script (`lua.ts`), the twin of `node-logic.ts`:
 * `nodeop(key, action, device, seq, tolerance, bdSeq, sets, gets)` and its seq tracking.
 * @packageDocumentation
 */
export const NODE_LUA = String.raw`
local function setchar(s, i, c) return string.sub(s, 1, i - 1) .. c .. string.sub(s, i + 1) end

local function trackseq(key, action, seq, tol)
  if action == 'nbirth' then
    local seen = string.rep('0', 256)
    for q in string.gmatch(redis.call('HGET', key, '#pre') or '', '[^,]+') do
      local d = (tonumber(q) - seq) % 256
      if d > 0 and d < 128 then seen = setchar(seen, (seq + d) % 256 + 1, '1') end
    end
    redis.call('HDEL', key, '#pre')
    redis.call('HSET', key, '#hi', seq, '#r', seq, '#seen', seen)
    return ''
  end
  local st = redis.call('HMGET', key, '#hi', '#r', '#seen', '#pre')
  if not st[1] then
    local pre = {}
    for q in string.gmatch(st[4] or '', '[^,]+') do pre[#pre + 1] = q end
    pre[#pre + 1] = tostring(seq)
    while #pre > 64 do table.remove(pre, 1) end
    redis.call('HSET', key, '#pre', table.concat(pre, ','))
    return ''
  end
  local hi, r, seen = tonumber(st[1]), tonumber(st[2]), st[3]
  local d = (seq - hi) % 256
  local p
  if d < 128 then p = hi + d else p = hi - (256 - d) end
  if p <= r then return '' end
  seen = setchar(seen, p % 256 + 1, '1')
  if p > hi then hi = p end
  local missing = {}
  local upto = hi - tol
  for q = r + 1, upto do
    local i = q % 256 + 1
    if string.sub(seen, i, i) ~= '1' then missing[#missing + 1] = tostring(q % 256) end
    seen = setchar(seen, i, '0')
  end
  if upto > r then r = upto end
  redis.call('HSET', key, '#hi', string.format('%d', hi), '#r', string.format('%d', r), '#seen', seen)
  return table.concat(missing, ',')
end

local function nodeop(key, action, device, seq, tol, bd, sets, gets)
  if action == 'ndeath' then
    local cur = redis.call('HGET', key, '#bd')
    if cur and bd ~= '' and cur ~= bd then return 'stale\2' end
    local devs = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 1) == 'd' then devs[#devs + 1] = string.sub(f, 2) end
    end
    table.sort(devs)
    redis.call('DEL', key)
    return 'ok\2' .. table.concat(devs, '\1')
  end
  if action == 'nbirth' or action == 'dbirth' or action == 'ddeath' then
    -- An NBIRTH forgets the node's own metrics, bdSeq and seq (device ''), a DBIRTH/DDEATH the device's.
    if action == 'nbirth' then device = '' end
    local all = redis.call('HGETALL', key)
    local prefix = 'n' .. device .. '\0'
    for i = 1, #all, 2 do
      local f, v = all[i], all[i + 1]
      local c = string.sub(f, 1, 1)
      local drop = (device ~= '' and f == 'd' .. device) or (c == 'n' and string.sub(f, 1, #prefix) == prefix)
        or (device == '' and c == '#' and f ~= '#pre')
      if c == 'a' then
        local a = string.find(v, '\0', 1, true)
        local b = string.find(v, '\0', a + 1, true)
        drop = string.sub(v, a + 1, b - 1) == device
      end
      if drop then redis.call('HDEL', key, f) end
    end
  end
  for i = 1, #sets, 500 do redis.call('HSET', key, unpack(sets, i, math.min(i + 499, #sets))) end
  if action == 'dbirth' then redis.call('HSET', key, 'd' .. device, '1') end
  local gap = ''
  if seq >= 0 then gap = trackseq(key, action, seq, tol) end
  local vals = {}
  if #gets > 0 then
    local got = redis.call('HMGET', key, unpack(gets))
    for j = 1, #gets do vals[j] = got[j] or '' end
  end
  return gap .. '\2' .. table.concat(vals, '\1')
end
`;
