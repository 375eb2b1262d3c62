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

Each entry of a partition stream has fields ``item`` (the queued event, as
:mod:`framework.queue.codec` stores it), ``keys`` (its order keys, a JSON list) and, for an
entry moved there already deferred, ``at`` (when it is due).
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
    "TAKE",
]

_COMMON = """
local P = KEYS[1]
local function fields_of(id)
    local found = redis.call('XRANGE', P, id, id)
    if #found == 0 then return nil end
    local list = found[1][2]
    local fields = {}
    for i = 1, #list, 2 do fields[list[i]] = list[i + 1] end
    return fields
end
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
"""

PUT = """
local total = 0
for i = 1, #KEYS do total = total + redis.call('XLEN', KEYS[i]) end
local count = tonumber(ARGV[2])
if total + count > tonumber(ARGV[1]) then return total end
local ids = {}
for i = 0, count - 1 do
    local base = 3 + i * 3
    ids[#ids + 1] = redis.call(
        'XADD', KEYS[tonumber(ARGV[base])], '*', 'item', ARGV[base + 1], 'keys', ARGV[base + 2])
end
return ids
"""
"""KEYS: every partition stream. ARGV: max_length, the item count, then for each item the
index of its partition in KEYS, its text and its keys. Returns the new IDs, or the number of
entries stored (a number) when the items would take the queue past max_length."""

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
            local behind = 0
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
        local keys = keys_of(fields)
        local at = tonumber(fields['at'] or '')
        local blocked = 0
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
    local fields = fields_of(id)
    if fields then
        for _, key in ipairs(keys_of(fields)) do
            local list = P .. ':k:' .. key
            if redis.call('LINDEX', list, 0) == id then
                redis.call('LPOP', list)
                local head = redis.call('LINDEX', list, 0)
                if head and redis.call('HEXISTS', P .. ':waits', head) == 1 then
                    if redis.call('HINCRBY', P .. ':waits', head, -1) <= 0 then
                        redis.call('HDEL', P .. ':waits', head)
                        redis.call('RPUSH', P .. ':ready', head)
                    end
                end
            else
                redis.call('LREM', list, 1, id)
            end
        end
        removed = removed + redis.call('XDEL', P, id)
    end
    redis.call('HDEL', P .. ':state', id)
    redis.call('HDEL', P .. ':tries', id)
    redis.call('HDEL', P .. ':flight', id)
    redis.call('HDEL', P .. ':waits', id)
    redis.call('ZREM', P .. ':waiting', id)
end
return removed
"""
)
"""KEYS: the partition stream. ARGV: entry IDs acked or set aside. Each leaves its users'
lists (the next entry of each may become ready) and the stream. Returns how many were there."""

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
