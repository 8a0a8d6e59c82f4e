//! The Lua scripts that keep presence consistent in Redis: each runs atomically, so a socket
//! is registered or removed with its meta, its index entries and its rooms, and an entity's
//! online state changes and is announced, in one round trip.
//!
//! Keys, under the configured prefix `p`:
//! - `p:nodes`: the ids of live nodes;
//! - `p:node:<node>`: a node's heartbeat, with a TTL;
//! - `p:node:<node>:sockets`: a node's sockets, as `ns \x1f socket \x1f entity`;
//! - `p:ns:<ns>:sockets`: socket id to entity id;
//! - `p:ns:<ns>:entity:<entity>`: an entity's socket ids;
//! - `p:ns:<ns>:online`: the entities with at least one socket;
//! - `p:ns:<ns>:meta`: socket id to its meta as JSON, for sockets whose meta is not empty;
//! - `p:ns:<ns>:idx:<key>\x1f<value>`: entity id to how many of its sockets have the string
//!   `value` at `key` in their meta (`HKEYS` lists them, `HLEN` counts them);
//! - `p:ns:<ns>:room:<room>`: the room's socket ids to their entity ids;
//! - `p:ns:<ns>:socket:<socket>:rooms`: the rooms a socket is in, so its removal leaves them.
//!
//! A socket's meta, index entries and rooms exist only while it is registered: unregister
//! (and so the reap of a stopped node) removes them, and a hash or set left empty disappears,
//! as Redis removes empty keys.
//!
//! The `channel` the scripts announce presence changes on is the presence channel
//! (`channels.rs`).
//!
//! Keys are computed inside the scripts, so this layout needs a single Redis server (or a
//! primary with replicas), not Redis Cluster.

/// Shared functions; every script starts with them.
const PRELUDE: &str = r#"
local function announce(p, channel, origin, ns, entity, status)
  redis.call('PUBLISH', channel, cjson.encode({kind = 'presence', origin = origin, ns = ns, entity = entity, status = status}))
end

local function index_key(p, ns, key, value)
  return p .. ':ns:' .. ns .. ':idx:' .. key .. '\31' .. value
end

-- The indexed pairs of a meta: top-level string values under keys without \31, as
-- `presence::indexed_pairs` says.
local function each_indexed(meta, f)
  if not meta then
    return
  end
  for key, value in pairs(cjson.decode(meta)) do
    if type(value) == 'string' and not string.find(key, '\31', 1, true) then
      f(key, value)
    end
  end
end

-- Replaces a socket's meta (`{}` for none) and moves its entity between the indexes.
local function set_meta(p, ns, sid, entity, meta)
  local metas = p .. ':ns:' .. ns .. ':meta'
  each_indexed(redis.call('HGET', metas, sid), function(key, value)
    local index = index_key(p, ns, key, value)
    if redis.call('HINCRBY', index, entity, -1) <= 0 then
      redis.call('HDEL', index, entity)
    end
  end)
  if meta == '{}' then
    redis.call('HDEL', metas, sid)
    return
  end
  redis.call('HSET', metas, sid, meta)
  each_indexed(meta, function(key, value)
    redis.call('HINCRBY', index_key(p, ns, key, value), entity, 1)
  end)
end

local function room_key(p, ns, room)
  return p .. ':ns:' .. ns .. ':room:' .. room
end

local function rooms_key(p, ns, sid)
  return p .. ':ns:' .. ns .. ':socket:' .. sid .. ':rooms'
end

local function join(p, ns, sid, room)
  local entity = redis.call('HGET', p .. ':ns:' .. ns .. ':sockets', sid)
  if not entity then
    return 0
  end
  redis.call('HSET', room_key(p, ns, room), sid, entity)
  redis.call('SADD', rooms_key(p, ns, sid), room)
  return 1
end

local function leave(p, ns, sid, room)
  redis.call('HDEL', room_key(p, ns, room), sid)
  redis.call('SREM', rooms_key(p, ns, sid), room)
end

local function register(p, channel, node, ns, sid, entity, meta)
  local sockets = p .. ':ns:' .. ns .. ':sockets'
  if redis.call('HSETNX', sockets, sid, entity) == 0 then
    return 0
  end
  set_meta(p, ns, sid, entity, meta)
  local members = p .. ':ns:' .. ns .. ':entity:' .. entity
  redis.call('SADD', members, sid)
  redis.call('SADD', p .. ':node:' .. node .. ':sockets', ns .. '\31' .. sid .. '\31' .. entity)
  if redis.call('SCARD', members) == 1 then
    redis.call('SADD', p .. ':ns:' .. ns .. ':online', entity)
    announce(p, channel, node, ns, entity, 'online')
    return 1
  end
  return 0
end

local function unregister(p, channel, node, origin, ns, sid)
  local sockets = p .. ':ns:' .. ns .. ':sockets'
  local entity = redis.call('HGET', sockets, sid)
  if not entity then
    return nil
  end
  set_meta(p, ns, sid, entity, '{}')
  local rooms = rooms_key(p, ns, sid)
  for _, room in ipairs(redis.call('SMEMBERS', rooms)) do
    redis.call('HDEL', room_key(p, ns, room), sid)
  end
  redis.call('DEL', rooms)
  redis.call('HDEL', sockets, sid)
  local members = p .. ':ns:' .. ns .. ':entity:' .. entity
  redis.call('SREM', members, sid)
  redis.call('SREM', p .. ':node:' .. node .. ':sockets', ns .. '\31' .. sid .. '\31' .. entity)
  if redis.call('SCARD', members) == 0 then
    redis.call('SREM', p .. ':ns:' .. ns .. ':online', entity)
    announce(p, channel, origin, ns, entity, 'offline')
    return entity
  end
  return nil
end

local function split(member)
  local ns, sid, entity = string.match(member, '^(.-)\31(.-)\31(.*)$')
  return ns, sid, entity
end
"#;

/// ARGV: prefix, channel, node, namespace, socket, entity, meta JSON. Returns 1 when the
/// entity came online.
pub(super) fn register() -> String {
    format!("{PRELUDE}\nreturn register(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])")
}

/// ARGV: prefix, channel, node, namespace, socket. Returns 1 when the entity went offline.
pub(super) fn unregister() -> String {
    format!(
        "{PRELUDE}\nif unregister(ARGV[1], ARGV[2], ARGV[3], ARGV[3], ARGV[4], ARGV[5]) then return 1 end\nreturn 0"
    )
}

/// ARGV: prefix, channel, node, namespace, socket, meta JSON. Replaces the meta of a
/// registered socket and announces the update; returns 1, or 0 when the socket is not
/// registered.
pub(super) fn update() -> String {
    format!(
        r#"{PRELUDE}
local p, channel, node, ns, sid, meta = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local entity = redis.call('HGET', p .. ':ns:' .. ns .. ':sockets', sid)
if not entity then
  return 0
end
set_meta(p, ns, sid, entity, meta)
announce(p, channel, node, ns, entity, 'updated')
return 1"#
    )
}

/// ARGV: prefix, namespace, socket, room. Adds a registered socket to a room; returns 1, or 0
/// when the socket is not registered (it was removed before this write ran).
pub(super) fn join() -> String {
    format!("{PRELUDE}\nreturn join(ARGV[1], ARGV[2], ARGV[3], ARGV[4])")
}

/// ARGV: prefix, namespace, socket, room. Removes a socket from a room.
pub(super) fn leave() -> String {
    format!("{PRELUDE}\nleave(ARGV[1], ARGV[2], ARGV[3], ARGV[4])\nreturn 1")
}

/// ARGV: prefix, namespace, entity. Returns `socket, meta JSON` pairs for each socket of the
/// entity, `{}` for an empty meta, read at one instant.
pub(super) fn metas() -> String {
    r#"
local p, ns, entity = ARGV[1], ARGV[2], ARGV[3]
local metas = p .. ':ns:' .. ns .. ':meta'
local found = {}
for _, sid in ipairs(redis.call('SMEMBERS', p .. ':ns:' .. ns .. ':entity:' .. entity)) do
  table.insert(found, sid)
  table.insert(found, redis.call('HGET', metas, sid) or '{}')
end
return found"#
        .to_owned()
}

/// ARGV: prefix, channel, node, then for every live socket of the node `namespace, socket,
/// entity, meta JSON, n, room 1 .. room n`. Makes Redis hold exactly those sockets, metas and
/// rooms for the node, after an outage.
pub(super) fn resync() -> String {
    format!(
        r#"{PRELUDE}
local p, channel, node = ARGV[1], ARGV[2], ARGV[3]
local live, records = {{}}, {{}}
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 4])
  local record = {{ns = ARGV[i], sid = ARGV[i + 1], entity = ARGV[i + 2], meta = ARGV[i + 3], rooms = {{}}}}
  for j = 1, n do
    record.rooms[ARGV[i + 4 + j]] = true
  end
  table.insert(records, record)
  live[record.ns .. '\31' .. record.sid] = true
  i = i + 5 + n
end
for _, member in ipairs(redis.call('SMEMBERS', p .. ':node:' .. node .. ':sockets')) do
  local ns, sid = split(member)
  if not live[ns .. '\31' .. sid] then
    unregister(p, channel, node, node, ns, sid)
  end
end
for _, r in ipairs(records) do
  register(p, channel, node, r.ns, r.sid, r.entity, r.meta)
  set_meta(p, r.ns, r.sid, r.entity, r.meta)
  for _, room in ipairs(redis.call('SMEMBERS', rooms_key(p, r.ns, r.sid))) do
    if not r.rooms[room] then
      leave(p, r.ns, r.sid, room)
    end
  end
  for room in pairs(r.rooms) do
    join(p, r.ns, r.sid, room)
  end
end
return 1"#
    )
}

/// ARGV: prefix, channel, dead node, this node. Removes every socket of a node whose
/// heartbeat expired, with its metas, index entries and rooms; returns `namespace, entity`
/// pairs for the entities that went offline.
pub(super) fn reap() -> String {
    format!(
        r#"{PRELUDE}
local p, channel, dead, origin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', p .. ':node:' .. dead) == 1 then
  return {{}}
end
local offline = {{}}
local key = p .. ':node:' .. dead .. ':sockets'
for _, member in ipairs(redis.call('SMEMBERS', key)) do
  local ns, sid = split(member)
  local entity = unregister(p, channel, dead, origin, ns, sid)
  if entity then
    table.insert(offline, ns)
    table.insert(offline, entity)
  end
end
redis.call('DEL', key)
redis.call('SREM', p .. ':nodes', dead)
return offline"#
    )
}

/// ARGV: prefix, namespace, socket, payload. Publishes `payload` on the channel of the entity
/// that holds the socket (`Channels::entity`: `p:ns:<ns>:e:<entity>`); returns how many nodes
/// received it, or -1 when no node holds the socket.
pub(super) fn publish_to_socket() -> String {
    r#"
local p, ns, sid, payload = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local entity = redis.call('HGET', p .. ':ns:' .. ns .. ':sockets', sid)
if not entity then
  return -1
end
return redis.call('PUBLISH', p .. ':ns:' .. ns .. ':e:' .. entity, payload)"#
        .to_owned()
}
