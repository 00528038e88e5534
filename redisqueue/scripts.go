package redisqueue

import "github.com/redis/go-redis/v9"

// The scripts check the lease and act in one step, so a processor whose
// lease lapsed can never read entries of a partition another now owns.
var (
	// readScript renews the lease as it reads (a lease lost or a partition
	// held answers an error instead). It reads entries after ARGV[6] (the reader's cursor) holding about
	// ARGV[5] events (never fewer than one entry): first those handed out
	// before and not acknowledged (a new owner's replay), else new ones. An
	// entry's size is its n field (1 without). As acknowledged entries are
	// deleted, the entries after the cursor that are not pending are
	// exactly the ones '>' hands out next, so XRANGE measures them first
	// and no more than fit are handed out; while the partition's Surplus
	// is 0 every entry holds one event and the count is the budget.
	readScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST lease lost') end
if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply('HELD partition held by a maintenance job') end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[4], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
local budget = tonumber(ARGV[5])
local function size(e)
  local f = e[2]
  if f then
    for i = 1, #f - 1, 2 do
      if f[i] == 'n' then return tonumber(f[i + 1]) or 1 end
    end
  end
  return 1
end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', budget, 'STREAMS', KEYS[2], ARGV[6])
if r and r[1] and #r[1][2] > 0 then
  local out, n = {}, 0
  for _, e in ipairs(r[1][2]) do
    local s = size(e)
    if #out > 0 and n + s > budget then break end
    out[#out + 1] = e
    n = n + s
  end
  return out
end
local count = budget
if (tonumber(redis.call('GET', KEYS[5])) or 0) > 0 then
  count = 0
  local n, from, chunk = 0, '-', math.min(budget, 8)
  if ARGV[6] ~= '0' then from = '(' .. ARGV[6] end
  while n < budget do
    local es = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', chunk)
    for _, e in ipairs(es) do
      local s = size(e)
      if count > 0 and n + s > budget then return redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', count, 'STREAMS', KEYS[2], '>')[1][2] end
      count, n = count + 1, n + s
      if n >= budget then break end
    end
    if #es < chunk then break end
    from = '(' .. es[#es][1]
    chunk = math.max(1, math.min(256, math.floor((budget - n) * count / n) + 1))
  end
  if count == 0 then return {} end
end
r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', count, 'STREAMS', KEYS[2], '>')
if r and r[1] then return r[1][2] end
return {}
`)
	// Every renewal also sets the partition's fence key to live two TTLs:
	// while it exists, a writer that lost the lease may still be inside its
	// write deadline, or have a write in flight.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
return 1
`)
	// releaseScript gives a lease back. ARGV[2] = "1" marks the release
	// clean (no write of the releaser can still be in flight): the fence key
	// goes too, which spares the next owner its wait.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
  return 1
end
return 0
`)
	// acquireScript takes a free lease. It returns -1 when someone holds it,
	// else how many milliseconds the new owner must wait before it writes:
	// what is left of the previous owner's fence key (its last renewal plus
	// two TTLs, so past the previous owner's write deadline by more than a
	// TTL), 0 after a clean release or when the partition was never owned.
	acquireScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local wait = redis.call('PTTL', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
if wait < 0 then return 0 end
return wait
`)
	// ackScript acknowledges and deletes entries in one atomic step, and only
	// while the caller holds the lease. ARGV[4] entries of one event follow,
	// then pairs of an entry of several and its count: those are deleted
	// one by one, so the Surplus loses only what was really deleted (an
	// entry acknowledged twice counts once). ARGV[3] is the batch's last
	// event when the batch ended inside an entry, kept in Acked, else "".
	ackScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST lease lost') end
local last = 4 + tonumber(ARGV[4])
for i = 5, last, 500 do
  local j = math.min(i + 499, last)
  redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, i, j))
  redis.call('XDEL', KEYS[2], unpack(ARGV, i, j))
end
local gone = 0
for i = last + 1, #ARGV - 1, 2 do
  redis.call('XACK', KEYS[2], ARGV[2], ARGV[i])
  if redis.call('XDEL', KEYS[2], ARGV[i]) == 1 then gone = gone + tonumber(ARGV[i + 1]) - 1 end
end
if gone > 0 then redis.call('DECRBY', KEYS[3], gone) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) else redis.call('DEL', KEYS[4]) end
return 1
`)
)
