"""The Lua scripts of the partitioned Redis queue: each changes several keys as one step.

Every key of a stream's queue shares one hash tag (``{actionkit:events}``), so a Redis Cluster
keeps them in one slot and a script may touch any of them. A script is given its partition's
stream as ``KEYS[1]`` (``{S}:p3``) and names the partition's other keys from it:

- ``{S}:p3:k:USER``: the partition's entries holding user ``USER``'s order, oldest first (a
  list of entry IDs). Its head is the one entry of the user that may be in hand; the entries
  behind it wait, except a run handed out in one take.
- ``{S}:p3:waits``: entries parked behind others, and how many of their users' lists they are
  not yet the head of; one reaching 0 moves to ``{S}:p3:ready``.
- ``{S}:p3:waiting``: deferred entries by the Unix time they are due (a sorted set), their
  retry state in ``{S}:p3:state``.
- ``{S}:p3:tries``: takes of each entry; ``{S}:p3:flight``: the entries in a consumer's hands
  (what a new owner hands out first); ``{S}:p3:meta``: ``cursor``, the last entry scanned.
- ``{S}:p3:gates``, ``{S}:p3:opened``, ``{S}:p3:markers``: the links of aliases and markers
  (below).

Each entry of a partition stream has fields ``item`` (the queued event, as
:mod:`framework.queue.codec` stores it), ``keys`` (its order keys, a JSON list), for an
entry moved there already deferred, ``at`` (when it is due), and for an alias with a marker,
``gate`` (``1``).

Markers: an alias goes to the partition P of its ``userId``, but its ``previousId`` (the user
merged away) usually lives in another partition Q. The put that appends the alias to P also
appends a *marker* to Q, an entry with fields ``keys`` (``[previousId]``) and ``marker`` (the
alias, ``{S}:pP|ID``), linked both ways: ``{S}:pP:gates`` maps the alias to its marker
(``{S}:pQ|ID``), ``{S}:pQ:markers`` the marker to its alias. A marker joins previousId's list
in Q like any entry, but is never handed out: when it is the head of that list (at its scan,
or when the entry before it ends) it *opens* the alias's gate: the alias's count in
``P:waits`` drops by one (it counted the closed gate as one more list it waits in), or, not
scanned or parked yet, the alias is noted in ``{S}:pP:opened``. The marker then stays at the
head, holding previousId's later entries in Q, until the alias ends (acked or set aside): its
REMOVE removes the marker too, and the next entry of previousId in Q may be handed out. So an
alias is handed out only once every earlier entry of both its users has ended, wherever they
are, and no later entry of either before the alias has ended. A marker is not an entry: it is
never in hand, deferred or dead; ``depth`` and ``max_length`` do not count it (the partitions'
stream lengths less their markers), and it is deleted from Q when its alias ends.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "DEFER",
    "HEARTBEAT",
    "PUT",
    "RELEASE",
    "REMOVE",
    "RETRY_NOW",
    "STORE",
    "TAKE",
]

_COMMON = """
local P = KEYS[1]
local function fields_in(S, id)
    local found = redis.call('XRANGE', S, id, id)
    if #found == 0 then return nil end
    local list = found[1][2]
    local fields = {}
    for i = 1, #list, 2 do fields[list[i]] = list[i + 1] end
    return fields
end
local function fields_of(id) return fields_in(P, id) end
local function keys_of(fields)
    local ok, decoded = pcall(cjson.decode, fields['keys'] or '[]')
    local result = {}
    if ok and type(decoded) == 'table' then
        for _, key in ipairs(decoded) do
            if type(key) == 'string' then result[#result + 1] = key end
        end
    end
    return result
end
-- A link names an entry of any partition: its stream, '|', its ID.
local function split(link)
    return string.match(link, '^(.*)|([^|]*)$')
end
-- The marker of this link (the alias at the other end) is the head of its list: open the gate.
local function open(link)
    local S, id = split(link)
    redis.call('SADD', S .. ':opened', id)
    if redis.call('HEXISTS', S .. ':waits', id) == 1 then
        if redis.call('HINCRBY', S .. ':waits', id, -1) <= 0 then
            redis.call('HDEL', S .. ':waits', id)
            redis.call('RPUSH', S .. ':ready', id)
        end
    end
end
-- Pop the head of a list of partition S; the next head waits in one list less.
local function advance(S, list)
    redis.call('LPOP', list)
    local head = redis.call('LINDEX', list, 0)
    if head and redis.call('HEXISTS', S .. ':waits', head) == 1 then
        if redis.call('HINCRBY', S .. ':waits', head, -1) <= 0 then
            redis.call('HDEL', S .. ':waits', head)
            local link = redis.call('HGET', S .. ':markers', head)
            if link then open(link) else redis.call('RPUSH', S .. ':ready', head) end
        end
    end
end
-- Take entry id out of its users' lists in partition S (the next of each may be ready) and
-- out of the stream; returns 1 if it was there.
local function unlist(S, id)
    local fields = fields_in(S, id)
    if not fields then return 0 end
    for _, key in ipairs(keys_of(fields)) do
        local list = S .. ':k:' .. key
        if redis.call('LINDEX', list, 0) == id then advance(S, list) else
            redis.call('LREM', list, 1, id)
        end
    end
    return redis.call('XDEL', S, id)
end
-- Is entry id of P (with these fields) behind a closed gate (its marker not yet opened)?
local function gated(id, fields)
    if not fields['gate'] then return 0 end
    if redis.call('SISMEMBER', P .. ':opened', id) == 1 then return 0 end
    return 1
end
"""

STORE = """
-- Append count items whose five values start at ARGV[at] (a partition's index in KEYS, the
-- text, the keys, the index of the marker's partition (0: none), the marker's keys), each
-- to its partition, with its marker; returns their IDs.
local function store(at, count)
    local ids = {}
    for i = 0, count - 1 do
        local v = at + i * 5
        local P = KEYS[tonumber(ARGV[v])]
        local place = tonumber(ARGV[v + 3])
        local id
        if place > 0 then
            id = redis.call('XADD', P, '*', 'item', ARGV[v + 1], 'keys', ARGV[v + 2], 'gate', '1')
        else
            id = redis.call('XADD', P, '*', 'item', ARGV[v + 1], 'keys', ARGV[v + 2])
        end
        ids[#ids + 1] = id
        if place > 0 then
            local Q = KEYS[place]
            local marker = redis.call('XADD', Q, '*', 'keys', ARGV[v + 4], 'marker', P .. '|' .. id)
            redis.call('HSET', Q .. ':markers', marker, P .. '|' .. id)
            redis.call('HSET', P .. ':gates', id, Q .. '|' .. marker)
        end
    end
    return ids
end
-- Entries stored and not yet acked: the partitions' less their markers, and the events of
-- the inbox (KEYS: the partitions, then the inbox's event count, then the inbox).
local function stored()
    local parts = #KEYS - 2
    local total = tonumber(redis.call('GET', KEYS[parts + 1]) or '0') or 0
    for i = 1, parts do
        total = total + redis.call('XLEN', KEYS[i]) - redis.call('HLEN', KEYS[i] .. ':markers')
    end
    return total
end
"""
"""Lua functions of the scripts that append entries (PUT, and the inbox's ACCEPT and MOVE:
:mod:`framework.queue.redis_inbox`), whose KEYS are the partition streams, then the inbox's
event count, then the inbox."""

PUT = (
    STORE
    + """
local limit = tonumber(ARGV[1])
local groups = tonumber(ARGV[2])
local total = 0
if limit >= 0 then total = stored() end
local out = {}
local base = 3 + groups
for g = 1, groups do
    local count = tonumber(ARGV[2 + g])
    if limit >= 0 and total + count > limit then
        out[g] = total
    else
        total = total + count
        out[g] = table.concat(store(base, count), ',')
    end
    base = base + count * 5
end
return out
"""
)
"""KEYS: every partition stream, the inbox's event count, the inbox
(:attr:`~framework.queue.redis_partitions.StreamKeys.put_keys`). ARGV
(:func:`framework.queue.redis_put.put_argv`): max_length (-1: no bound), the number of groups
(each the puts of one caller), each group's item count, then five values for each item of
each group in turn: the index of its partition in KEYS, its text, its keys, and the index of
the partition of its marker (0: none) with the marker's keys. Groups are stored in turn, each
all or none: a group that would take the queue (the inbox's events included) past max_length
is skipped. Returns, for each group, its new IDs joined by commas (one string: one reply to
parse, not one an item), or the number of entries stored then (a number) when it was
skipped. The texts are arguments of their own, as the client wrote them: nothing for the
script to decode."""

TAKE = (
    _COMMON
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lost'} end
local n = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local limit = tonumber(ARGV[5])
local out = {}
local count = 0
local function give(id, fields)
    local item = redis.call('HGET', P .. ':state', id) or fields['item'] or ''
    local tries = redis.call('HINCRBY', P .. ':tries', id, 1)
    redis.call('HSET', P .. ':flight', id, 1)
    out[#out + 1] = id
    out[#out + 1] = item
    out[#out + 1] = tries
    count = count + 1
end
local function forget(id)
    redis.call('HDEL', P .. ':state', id)
    redis.call('HDEL', P .. ':tries', id)
    redis.call('HDEL', P .. ':flight', id)
    redis.call('HDEL', P .. ':waits', id)
end
local function stream_order(a, b)
    local am, as = string.match(a, '(%d+)-(%d+)')
    local bm, bs = string.match(b, '(%d+)-(%d+)')
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    if am ~= bm then return am < bm end
    return as < bs
end
-- 1. A new owner first hands out what the previous one had in hand, oldest first (but for
--    the entries its caller still holds, ARGV[6..]).
if ARGV[4] == '1' then
    local here = {}
    for i = 6, #ARGV do here[ARGV[i]] = true end
    local held = redis.call('HKEYS', P .. ':flight')
    table.sort(held, stream_order)
    for _, id in ipairs(held) do
        if not here[id] then
            local fields = fields_of(id)
            if fields then give(id, fields) else forget(id) end
        end
    end
end
-- 2. Entries whose wait behind others has ended.
while count < n do
    local id = redis.call('LPOP', P .. ':ready')
    if not id then break end
    local fields = fields_of(id)
    if fields then give(id, fields) else forget(id) end
end
-- 3. Deferred entries now due: handed out if at the head of each of their users' lists,
--    else parked until they are.
if count < n then
    local due = redis.call('ZRANGEBYSCORE', P .. ':waiting', '-inf', now, 'LIMIT', 0, n - count)
    for _, id in ipairs(due) do
        redis.call('ZREM', P .. ':waiting', id)
        local fields = fields_of(id)
        if not fields then
            forget(id)
        else
            local behind = gated(id, fields)
            for _, key in ipairs(keys_of(fields)) do
                local head = redis.call('LINDEX', P .. ':k:' .. key, 0)
                if head and head ~= id then behind = behind + 1 end
            end
            if behind == 0 then give(id, fields) else
                redis.call('HSET', P .. ':waits', id, behind)
            end
        end
    end
end
-- 4. New entries, in stream order: each joins its users' lists; handed out when first in
--    each, or (one user only) behind entries handed out in this same take: a run.
local cursor = redis.call('HGET', P .. ':meta', 'cursor') or '0-0'
local run = {}
local scanned = 0
local function list_marker(id, link, keys)
    -- Never handed out: it opens its alias's gate once first in each of its lists.
    local blocked = 0
    for _, key in ipairs(keys) do
        if redis.call('LLEN', P .. ':k:' .. key) > 0 then blocked = blocked + 1 end
        redis.call('RPUSH', P .. ':k:' .. key, id)
        run[key] = false
    end
    if blocked == 0 then open(link) else redis.call('HSET', P .. ':waits', id, blocked) end
end
local function list_entry(id, fields, keys)
    local at = tonumber(fields['at'] or '')
    local blocked = gated(id, fields)
    for _, key in ipairs(keys) do
        local length = redis.call('LLEN', P .. ':k:' .. key)
        if length > 0 and not (#keys == 1 and run[key]) then blocked = blocked + 1 end
        redis.call('RPUSH', P .. ':k:' .. key, id)
    end
    if at and at > now then
        for _, key in ipairs(keys) do run[key] = false end
        redis.call('ZADD', P .. ':waiting', at, id)
    elseif blocked == 0 then
        give(id, fields)
        for _, key in ipairs(keys) do run[key] = (#keys == 1) end
    else
        for _, key in ipairs(keys) do run[key] = false end
        redis.call('HSET', P .. ':waits', id, blocked)
    end
end
while count < n and scanned < limit do
    local batch = redis.call('XRANGE', P, '(' .. cursor, '+', 'COUNT', 100)
    if #batch == 0 then break end
    for _, entry in ipairs(batch) do
        if count >= n or scanned >= limit then break end
        local id = entry[1]
        cursor = id
        scanned = scanned + 1
        local fields = {}
        for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
        if fields['marker'] then list_marker(id, fields['marker'], keys_of(fields)) else
            list_entry(id, fields, keys_of(fields))
        end
    end
end
redis.call('HSET', P .. ':meta', 'cursor', cursor)
local next_due = redis.call('ZRANGE', P .. ':waiting', 0, 0, 'WITHSCORES')
table.insert(out, 1, cursor)
table.insert(out, 1, next_due[2] or '')
table.insert(out, 1, 'ok')
return out
"""
)
"""KEYS: the partition stream, its lease. ARGV: the owner's token, how many to hand out, the
Unix time now, '1' to hand out first what is in flight (a new owner), how many new entries
to scan at most, then the entries the caller holds (not handed out again). Returns
``{'lost'}`` when the lease is not the caller's, else ``{'ok', next due time or '', cursor,
id, item, tries, ...}``."""

REMOVE = (
    _COMMON
    + """
local removed = 0
for _, id in ipairs(ARGV) do
    removed = removed + unlist(P, id)
    redis.call('HDEL', P .. ':state', id)
    redis.call('HDEL', P .. ':tries', id)
    redis.call('HDEL', P .. ':flight', id)
    redis.call('HDEL', P .. ':waits', id)
    redis.call('ZREM', P .. ':waiting', id)
    local gate = redis.call('HGET', P .. ':gates', id)
    if gate then
        local Q, marker = split(gate)
        unlist(Q, marker)
        redis.call('HDEL', Q .. ':waits', marker)
        redis.call('HDEL', Q .. ':markers', marker)
        redis.call('HDEL', P .. ':gates', id)
        redis.call('SREM', P .. ':opened', id)
    end
end
return removed
"""
)
"""KEYS: the partition stream. ARGV: entry IDs acked or set aside. Each leaves its users'
lists (the next entry of each may become ready) and the stream, and an alias's marker leaves
its partition the same way. Returns how many were there."""

DEFER = (
    _COMMON
    + """
local id = ARGV[1]
if not fields_of(id) then return 0 end
redis.call('HSET', P .. ':state', id, ARGV[2])
redis.call('ZADD', P .. ':waiting', ARGV[3], id)
redis.call('HDEL', P .. ':flight', id)
if ARGV[4] == '1' then redis.call('HINCRBY', P .. ':tries', id, -1) end
return 1
"""
)
"""KEYS: the partition stream. ARGV: the entry ID, its new item, when it is due, '1' when the
take that handed it out is not a try. It keeps its place in its users' lists. Returns 0 when
the entry is gone (acked meanwhile)."""

HEARTBEAT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
"""KEYS: the workers' sorted set. ARGV: the worker's token, its time to live in ms. Returns
how many workers are alive (by Redis's clock)."""

ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or (not owner and ARGV[3] == '1') then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
"""KEYS: a partition's lease. ARGV: the token, the lease's time to live in ms, '1' to take a
free lease (else only renew one held). Returns 1 when the caller holds it now."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""KEYS: a partition's lease. ARGV: the token. Gives the lease up if the caller holds it."""

RETRY_NOW = """
local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
for _, id in ipairs(later) do redis.call('ZADD', KEYS[1], ARGV[1], id) end
return #later
"""
"""KEYS: a partition's sorted set of waiting entries. ARGV: the Unix time now. Makes every
entry due later due now; returns how many."""
