package redis

// A room lives in six keys that share one hash tag, so that every script
// touches one cluster slot:
//
//	meta    hash: status (open|closed), seq (last number given), bytes (kept
//	        state size), viewers (last total published), owner (node id),
//	        ownerkey (hash of the owner's key), epoch (the owner's, raised by
//	        each claim), grace (ms a room outlives its owner), lostto (set
//	        when Redis lost writes: no recovery from a seq up to it), held
//	        ("1" from a create for the HTTP API until the first claim),
//	        pubseq (the last owner number accepted, see publishScript;
//	        missing: 0)
//	state   hash: state key -> message body
//	order   sorted set: state key scored by the seq it was last set at, so
//	        ZRANGE gives the replay order (replacing a key moves it to the end)
//	viewers hash: node id -> "count:expiresAtMs"
//	lease   string: the owner's node id, with a TTL of the longer of the
//	        lease and the grace; "away" while the owner is gone, for the
//	        grace; "gone:" and the node id once that node was found
//	        stopped, for what was left of the TTL (see ownerGoneScript)
//	history list: the bodies of the room's latest messages, consecutive in
//	        seq, so the first is numbered seq - LLEN + 1; meta's hbytes is
//	        their size. Bounded by count and bytes at every publish
//
// Besides the rooms, one key serves every node: "nodes" after the prefix, a
// sorted set of node ids scored by the Redis time (ms) of each node's last
// heartbeat, written every LeaseTTL/3 (see heartbeat.go). A lease that names
// a node whose heartbeat is older than LeaseTTL names a stopped node. The
// set is read on its own, never in a room's script, so that those still
// touch one slot.
//
// Every change to a room runs in one script, so Redis applies it at once and
// its PUBLISH takes the pub/sub stream's order from the seq it just gave.
// Messages on the room's channel are "d<seq> <body>" (a broadcast),
// "k<seq> <key length> <key><body>" (a broadcast conflated under key),
// "c<seq>[ <by>]" (the close, and who closed it when not its owner), "l<seq>" (messages up to seq were lost: the next
// one is seq+1; see publishScript), and, unnumbered, "v<total>" (the viewer count) and
// "o<epoch>" (a claim gave the room to the owner holding epoch).
//
// A room whose meta key is missing is not the same as a closed one: a
// closed room keeps its meta, with status closed and its last seq, for the
// closed TTL, and none of its other keys. A
// missing meta means Redis lost the room (it restarted without
// persistence) or its keys expired; the scripts that the owner's node runs
// say so with a result of their own, so that the node restores the room
// from its copy (see restoreScript and owned.go).

// createScript registers an open room and its owner's lease, unless the id
// is taken. KEYS: meta, lease. ARGV: node, leaseMs, idleMs, keyHash,
// graceMs, held ("1": no client owns the room yet, see broker.Owner.Held).
// Returns 1 when created, 0 when the id exists.
var createScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'open', 'seq', 0, 'bytes', 0, 'viewers', 0, 'owner', ARGV[1],
  'ownerkey', ARGV[4], 'epoch', 1, 'grace', ARGV[5], 'held', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', math.max(tonumber(ARGV[2]), tonumber(ARGV[5])))
return 1
`)

// Results of claimScript and releaseScript besides an epoch.
const (
	ownerNotOpen = -1
	ownerRefused = -2 // the key hash, or the epoch, is not the room's
	ownerMissing = -3
)

// claimScript gives an open room to the holder of its owner key: it raises
// the epoch, takes the lease for this node and tells every node, so that
// the owner connection it fences off hears so at once. KEYS: meta, lease.
// ARGV: keyHash, node, leaseMs, channel. Returns the new epoch, or
// ownerNotOpen, ownerRefused or ownerMissing.
var claimScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -1 end
if redis.call('HGET', KEYS[1], 'ownerkey') ~= ARGV[1] then return -2 end
-- Past its grace, the room is as good as closed: its nodes close it soon.
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'held', 0)
local grace = tonumber(redis.call('HGET', KEYS[1], 'grace') or '0')
redis.call('SET', KEYS[2], ARGV[2], 'PX', math.max(tonumber(ARGV[3]), grace))
redis.call('PUBLISH', ARGV[4], 'o' .. epoch)
return epoch
`)

// releaseScript starts an open room's grace: its lease becomes "away" for
// the grace, and then the nodes close it as orphaned unless claimScript ran.
// KEYS: meta, lease. ARGV: epoch. Returns the epoch, or ownerNotOpen, or
// ownerRefused when another owner claimed the room since, or ownerMissing.
var releaseScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -1 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -2 end
local grace = tonumber(redis.call('HGET', KEYS[1], 'grace') or '0')
if grace > 0 then
  redis.call('SET', KEYS[2], 'away', 'PX', grace)
else
  redis.call('DEL', KEYS[2])
end
return tonumber(ARGV[1])
`)

// Results of publishScript besides a seq.
const (
	publishNotOpen       = -1
	publishTooManyState  = -2
	publishTooLargeState = -3
	publishNotOwner      = -4
	publishMissing       = -5
	publishLost          = -6 // as {-6, the seq the room went back to}
	publishRepeat        = -7 // as {-7, the last pubseq accepted}
	publishGap           = -8 // as {-8, the last pubseq accepted}
)

// publishScript numbers a message, keeps it when it is a state message,
// appends it to the history and publishes it. KEYS: meta, state, order,
// viewers, lease, history. ARGV: stateKey (empty: not kept), body,
// maxMessages, maxBytes, idleMs, channel, maxHistoryMessages,
// maxHistoryBytes, ownerEpoch ("0": any), clearState ("1": empty the kept
// state first), floor (the last seq the owner's node knows the room gave;
// "0": unknown), pubSeq (the owner's number for the message, "0": none),
// void ("1": only use pubSeq up), conflate (the conflation key; empty:
// none, else the message goes out as "k<seq> <key length> <key><body>").
// A pubSeq is accepted as meta's pubseq + 1 only: a repeat gets
// {publishRepeat, last} and a gap {publishGap, last}, with nothing
// changed; an accepted one is recorded even when the message is then
// refused (state bounds, lost writes), since it was answered.
// Returns the seq (0 for void), or one of the negative publish* results
// with nothing changed, or {publishLost, seq} when the room's seq is below
// the floor: Redis lost the room's latest writes (a failover, or a restart
// from an older copy). The message is then not published; instead the seq
// jumps to the floor, so that no number is given twice, the history is
// emptied and meta's lostto records the floor, so that no viewer that may
// have seen a lost message recovers (see snapshotScript), and "l<floor>" on
// the channel tells every node that the stream lost messages.
var publishScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -5 end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -1 end
if ARGV[9] ~= '0' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[9] then return -4 end
local floor, cur = tonumber(ARGV[11]), tonumber(redis.call('HGET', KEYS[1], 'seq'))
local pub, last = tonumber(ARGV[12]), tonumber(redis.call('HGET', KEYS[1], 'pubseq') or '0')
if floor > cur then
  redis.call('HSET', KEYS[1], 'seq', floor, 'lostto', floor, 'hbytes', 0)
  if pub > last then redis.call('HSET', KEYS[1], 'pubseq', pub) end
  redis.call('DEL', KEYS[6])
  redis.call('PUBLISH', ARGV[6], 'l' .. floor)
  return {-6, cur}
end
if pub > 0 then
  if pub <= last then return {-7, last} end
  if pub > last + 1 then return {-8, last} end
  redis.call('HSET', KEYS[1], 'pubseq', pub)
  if ARGV[13] == '1' then return 0 end
end
local key, body, clear = ARGV[1], ARGV[2], ARGV[10] == '1'
local bytes = 0
if key ~= '' then
  bytes = #body
  local count = 1
  if not clear then
    bytes = bytes + tonumber(redis.call('HGET', KEYS[1], 'bytes'))
    count = count + redis.call('HLEN', KEYS[2])
    if redis.call('HEXISTS', KEYS[2], key) == 1 then
      bytes = bytes - redis.call('HSTRLEN', KEYS[2], key)
      count = count - 1
    end
  end
  if count > tonumber(ARGV[3]) then return -2 end
  if bytes > tonumber(ARGV[4]) then return -3 end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if clear then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'bytes', 0)
end
if key ~= '' then
  redis.call('HSET', KEYS[2], key, body)
  redis.call('ZADD', KEYS[3], seq, key)
  redis.call('HSET', KEYS[1], 'bytes', bytes)
end
redis.call('RPUSH', KEYS[6], body)
local hlen = redis.call('LLEN', KEYS[6])
local hbytes = redis.call('HINCRBY', KEYS[1], 'hbytes', #body)
while hlen > 0 and (hlen > tonumber(ARGV[7]) or hbytes > tonumber(ARGV[8])) do
  hbytes = hbytes - #redis.call('LPOP', KEYS[6])
  hlen = hlen - 1
end
redis.call('HSET', KEYS[1], 'hbytes', hbytes)
if ARGV[14] == '' then
  redis.call('PUBLISH', ARGV[6], 'd' .. seq .. ' ' .. body)
else
  redis.call('PUBLISH', ARGV[6], 'k' .. seq .. ' ' .. #ARGV[14] .. ' ' .. ARGV[14] .. body)
end
for _, i in ipairs({1, 2, 3, 4, 6}) do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return seq
`)

// snapshotScript reads the last seq and, at that point of the stream, either
// the history after ARGV[1] (when it is given and the history still holds
// all of it) or the kept state, oldest first. KEYS: meta, state, order,
// history, lease. ARGV: after ("": no recovery). Returns an empty array when
// the room is missing, nil when it is not open, else {seq, recovered ("1"
// or "0"), ownerAway ("1" or "0"), pubseq, seq1, body1, seq2, body2, ...}.
var snapshotScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return false end
local last = redis.call('HGET', KEYS[1], 'seq')
local pubseq = redis.call('HGET', KEYS[1], 'pubseq') or '0'
local seq, after = tonumber(last), tonumber(ARGV[1])
local away = '0'
local lease = redis.call('GET', KEYS[5])
if lease == 'away' or (lease and string.sub(lease, 1, 5) == 'gone:') then away = '1' end
-- A viewer that saw seq lostto or less may have seen messages Redis lost.
local lostto = redis.call('HGET', KEYS[1], 'lostto')
if after and after <= seq and (not lostto or after > tonumber(lostto)) then
  local first = seq - redis.call('LLEN', KEYS[4]) + 1
  if after + 1 >= first then
    local out = {last, '1', away, pubseq}
    for i, body in ipairs(redis.call('LRANGE', KEYS[4], after + 1 - first, -1)) do
      out[#out + 1] = string.format('%d', after + i)
      out[#out + 1] = body
    end
    return out
  end
end
local out = {last, '0', away, pubseq}
local keys = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #keys, 2 do
  out[#out + 1] = keys[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], keys[i])
end
return out
`)

// Results of closeScript, the first element of its reply.
const (
	closeNotOpen    = 0 // closed before, or unknown (then seq is 0)
	closeOwnerAlive = 1 // only when the lease was required gone
	closeDone       = 2
	closeNewOwner   = 3 // only when an epoch was given: it is not the room's
	closeMissing    = 4
)

// closeScript closes an open room: it takes the next seq for the close,
// publishes it, deletes what the room kept and leaves its meta as a marker,
// with only its status (closed) and that seq, for closedMs. The marker is
// what a lagging node reads to learn the close's seq (see closedUnseen),
// what refuses a join or a claim as closed rather than missing, and what
// keeps restoreScript and createScript from reviving the id meanwhile; it
// is a few dozen bytes, so that a client that loops create, fill the state,
// close leaves next to nothing behind. KEYS: meta,
// state, order, viewers, lease, history. ARGV: closedMs, channel, onlyWithoutLease
// ("1": close only when the owner's lease has expired), epoch ("0": any;
// else close only while the owner holds it), by (who closed it, or "";
// published as "c<seq> <by>"). Returns {result, seq}, and
// with closeOwnerAlive a third element: the lease's value (a node id,
// "away" or "gone:<node>"), for upkeep to check that node's heartbeat.
var closeScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {4, 0} end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')}
end
if ARGV[4] ~= '0' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[4] then return {3, 0} end
if ARGV[3] == '1' then
  local holder = redis.call('GET', KEYS[5])
  if holder then return {1, 0, holder} end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HSET', KEYS[1], 'status', 'closed', 'seq', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local notice = 'c' .. seq
if ARGV[5] ~= '' then notice = notice .. ' ' .. ARGV[5] end
redis.call('PUBLISH', ARGV[2], notice)
return {2, seq}
`)

// ownerGoneScript marks the room's owner away because the node its lease
// names has stopped (its last heartbeat is older than LeaseTTL): it sets
// the lease to "gone:<node>" and keeps its TTL, so that the room waits for
// its owner no longer than it would have, claimScript and closeScript read
// it as they read a released room's "away", and snapshotScript says the
// owner is away. Unlike "away", it still names the node, so that the node,
// should it come back (it had lost Redis for longer than its lease), takes
// its lease back (see leaseScript). It acts only while the lease still
// names that node, so that of the nodes that notice, one wins; and only in
// a room with a grace: one without closes when its lease runs out, as when
// its owner leaves. KEYS: meta, lease. ARGV: node. Returns nil, or for the
// winner {epoch, the lease's remaining ms}.
var ownerGoneScript = newScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return false end
if tonumber(redis.call('HGET', KEYS[1], 'grace') or '0') <= 0 then return false end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
local left = redis.call('PTTL', KEYS[2])
if left <= 0 then return false end
redis.call('SET', KEYS[2], 'gone:' .. ARGV[1], 'KEEPTTL')
return {tonumber(redis.call('HGET', KEYS[1], 'epoch')), left}
`)

// viewersScript records this node's viewer count for leaseMs, drops the
// counts of nodes that stopped refreshing theirs, and publishes the total.
// KEYS: meta, viewers. ARGV: node, count, leaseMs, channel, onlyIfChanged
// ("1": publish only a changed total), idleMs. Returns the total, or -1 when
// the room is not open.
var viewersScript = newScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local total = 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local count, expires = string.match(all[i + 1], '^(%d+):(%d+)$')
  if tonumber(expires) < now then
    redis.call('HDEL', KEYS[2], all[i])
  else
    total = total + tonumber(count)
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if ARGV[5] == '0' or redis.call('HGET', KEYS[1], 'viewers') ~= tostring(total) then
  redis.call('HSET', KEYS[1], 'viewers', total)
  redis.call('PUBLISH', ARGV[4], 'v' .. total)
end
return total
`)

// Results of leaseScript.
const (
	leaseRenewed  = 1
	leaseGone     = 0
	leaseMissing  = -1
	leaseReleased = 2 // not renewed: the owner left and its grace runs
	leaseReturned = 3 // renewed, after other nodes took this one for stopped
)

// leaseScript renews the owner's lease of an open room, for the longer of
// the lease and the room's grace, and keeps the room's keys from expiring
// while its owner is alive. KEYS: meta, lease, state, order, viewers,
// history. ARGV: node, leaseMs, idleMs, epoch. Returns leaseRenewed, or
// leaseGone when the room is not open or another owner claimed it since
// epoch, or leaseMissing. A lease that reads "away" is not renewed
// (leaseReleased): releaseScript ran, and this node is about to record it.
// One that reads "gone:..." is (leaseReturned): the owner is still here at
// its epoch, and its viewers, told it was away, are to be told it is back.
var leaseScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return 0 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[4] then return 0 end
local lease = redis.call('GET', KEYS[2])
if lease == 'away' then return 2 end
local grace = tonumber(redis.call('HGET', KEYS[1], 'grace') or '0')
redis.call('SET', KEYS[2], ARGV[1], 'PX', math.max(tonumber(ARGV[2]), grace))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 3, 6 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
if lease and string.sub(lease, 1, 5) == 'gone:' then return 3 end
return 1
`)

// restoreScript puts back a room that Redis lost, from the copy kept by the
// node that owns it (see owned.go): open, numbered on from the copy's seq,
// with its owner key, epoch, grace and kept state, and an empty history. It
// does nothing when the room's meta exists, so that it never overwrites a
// room, even one restored meanwhile by another call. KEYS: meta, state,
// order, lease, history. ARGV: node, lease value (the node, or "away"),
// leaseMs, idleMs, keyHash, graceMs, epoch, seq, bytes, pubseq, then for
// each state message in replay order: key, seq, body. Returns 1 when restored, 0 when
// the room exists.
var restoreScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
redis.call('HSET', KEYS[1], 'status', 'open', 'seq', ARGV[8], 'bytes', ARGV[9], 'hbytes', 0, 'viewers', 0,
  'owner', ARGV[1], 'ownerkey', ARGV[5], 'epoch', ARGV[7], 'grace', ARGV[6], 'pubseq', ARGV[10])
for i = 11, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  redis.call('ZADD', KEYS[3], ARGV[i + 1], ARGV[i])
end
redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return 1
`)

// copyScript reads what a node that claimed a room keeps to restore it.
// KEYS: meta, state, order. Returns nil when the room is not open, else
// {seq, graceMs, pubseq, key1, seq1, body1, key2, seq2, body2, ...} in
// replay order.
var copyScript = newScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return false end
local out = {redis.call('HGET', KEYS[1], 'seq'), redis.call('HGET', KEYS[1], 'grace') or '0',
  redis.call('HGET', KEYS[1], 'pubseq') or '0'}
local keys = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #keys, 2 do
  out[#out + 1] = keys[i]
  out[#out + 1] = keys[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], keys[i])
end
return out
`)
