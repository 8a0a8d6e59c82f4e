//! The Lua scripts that keep presence consistent in Redis: each runs atomically, so a socket
//! is registered or removed with its meta, its index entries and its rooms in one round trip.
//! The scripts change keys only; the node announces what changed on the presence channel
//! (`channels.rs`) itself.
//!
//! Keys, under the configured prefix `p`. Every key of a namespace carries the hash tag
//! `{p:ns:<ns>}`, so a script touches one hash slot and runs on a Redis Cluster as on one
//! server; the keys of the nodes themselves carry `{p}`:
//! - `{p}:nodes`: the ids of live nodes;
//! - `{p}:node:<node>`: a node's heartbeat, with a TTL;
//! - `{p}:node:<node>:namespaces`: the namespaces a node registered sockets in, for its reap;
//! - `{p:ns:<ns>}:node:<node>:sockets`: a node's sockets there, as `socket \x1f entity`;
//! - `{p:ns:<ns>}:sockets`: socket id to entity id;
//! - `{p:ns:<ns>}:entity:<entity>`: an entity's socket ids;
//! - `{p:ns:<ns>}:online`: the entities with at least one socket;
//! - `{p:ns:<ns>}:meta`: socket id to its meta as JSON, for sockets whose meta is not empty;
//! - `{p:ns:<ns>}:idx:<key>\x1f<value>`: entity id to how many of its sockets have the string
//!   `value` at `key` in their meta (`HKEYS` lists them, `HLEN` counts them);
//! - `{p:ns:<ns>}:room:<room>`: the room's socket ids to their entity ids;
//! - `{p:ns:<ns>}:socket:<socket>:rooms`: the rooms a socket is in, so its removal leaves them.
//!
//! The Rust side names the same keys through [`namespace_key`] and [`node_key`]. Each script
//! is called with `KEYS[1]`, a key of its namespace, which routes it to the slot's shard.
//!
//! A socket's meta, index entries and rooms exist only while it is registered: unregister
//! (and so the reap of a stopped node) removes them, and a hash or set left empty disappears,
//! as Redis removes empty keys.

/// The key `suffix` of `namespace` under `prefix`: `{prefix:ns:namespace}:suffix`.
pub(super) fn namespace_key(prefix: &str, namespace: &str, suffix: &str) -> String {
    format!("{{{prefix}:ns:{namespace}}}:{suffix}")
}

/// The key `suffix` of the nodes under `prefix`: `{prefix}:suffix`.
pub(super) fn node_key(prefix: &str, suffix: &str) -> String {
    format!("{{{prefix}}}:{suffix}")
}

/// Shared functions; every script starts with them.
const PRELUDE: &str = r#"
-- A key of namespace `ns`, as `namespace_key` names it.
local function nk(p, ns, suffix)
  return '{' .. p .. ':ns:' .. ns .. '}:' .. suffix
end

local function index_key(p, ns, key, value)
  return nk(p, ns, 'idx:' .. key .. '\31' .. value)
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
  local metas = nk(p, ns, 'meta')
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
  return nk(p, ns, 'room:' .. room)
end

local function rooms_key(p, ns, sid)
  return nk(p, ns, 'socket:' .. sid .. ':rooms')
end

local function join(p, ns, sid, room)
  local entity = redis.call('HGET', nk(p, ns, 'sockets'), sid)
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

-- Registers a socket of `node`; 1 when its entity came online.
local function register(p, node, ns, sid, entity, meta)
  if redis.call('HSETNX', nk(p, ns, 'sockets'), sid, entity) == 0 then
    return 0
  end
  set_meta(p, ns, sid, entity, meta)
  local members = nk(p, ns, 'entity:' .. entity)
  redis.call('SADD', members, sid)
  redis.call('SADD', nk(p, ns, 'node:' .. node .. ':sockets'), sid .. '\31' .. entity)
  if redis.call('SCARD', members) == 1 then
    redis.call('SADD', nk(p, ns, 'online'), entity)
    return 1
  end
  return 0
end

-- Removes a socket of `node`; its entity when that went offline.
local function unregister(p, node, ns, sid)
  local sockets = nk(p, ns, 'sockets')
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
  local members = nk(p, ns, 'entity:' .. entity)
  redis.call('SREM', members, sid)
  redis.call('SREM', nk(p, ns, 'node:' .. node .. ':sockets'), sid .. '\31' .. entity)
  if redis.call('SCARD', members) == 0 then
    redis.call('SREM', nk(p, ns, 'online'), entity)
    return entity
  end
  return nil
end

local function split(member)
  local sid, entity = string.match(member, '^(.-)\31(.*)$')
  return sid, entity
end
"#;

/// KEYS[1]: a key of the namespace. ARGV: prefix, node, namespace, socket, entity, meta JSON.
/// Returns 1 when the entity came online.
pub(super) fn register() -> String {
    format!("{PRELUDE}\nreturn register(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])")
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, node, namespace, socket. Returns 1 when the
/// entity went offline.
pub(super) fn unregister() -> String {
    format!("{PRELUDE}\nif unregister(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end\nreturn 0")
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, namespace, socket, meta JSON. Replaces the
/// meta of a registered socket; returns 1, or 0 when the socket is not registered.
pub(super) fn update() -> String {
    format!(
        r#"{PRELUDE}
local p, ns, sid, meta = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local entity = redis.call('HGET', nk(p, ns, 'sockets'), sid)
if not entity then
  return 0
end
set_meta(p, ns, sid, entity, meta)
return 1"#
    )
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, namespace, socket, room. Adds a registered
/// socket to a room; returns 1, or 0 when the socket is not registered (it was removed before
/// this write ran).
pub(super) fn join() -> String {
    format!("{PRELUDE}\nreturn join(ARGV[1], ARGV[2], ARGV[3], ARGV[4])")
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, namespace, socket, room. Removes a socket
/// from a room.
pub(super) fn leave() -> String {
    format!("{PRELUDE}\nleave(ARGV[1], ARGV[2], ARGV[3], ARGV[4])\nreturn 1")
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, namespace, entity. Returns `socket, meta
/// JSON` pairs for each socket of the entity, `{}` for an empty meta, read at one instant.
pub(super) fn metas() -> String {
    format!(
        r#"{PRELUDE}
local p, ns, entity = ARGV[1], ARGV[2], ARGV[3]
local metas = nk(p, ns, 'meta')
local found = {{}}
for _, sid in ipairs(redis.call('SMEMBERS', nk(p, ns, 'entity:' .. entity))) do
  table.insert(found, sid)
  table.insert(found, redis.call('HGET', metas, sid) or '{{}}')
end
return found"#
    )
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, node, namespace, then for every live socket
/// of the node there `socket, entity, meta JSON, n, room 1 .. room n`. Makes Redis hold
/// exactly those sockets, metas and rooms for the node in the namespace, after an outage.
/// Returns `status, entity` pairs (`online` or `offline`) for the entities that changed.
pub(super) fn resync() -> String {
    format!(
        r#"{PRELUDE}
local p, node, ns = ARGV[1], ARGV[2], ARGV[3]
local live, records, changed = {{}}, {{}}, {{}}
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 3])
  local record = {{sid = ARGV[i], entity = ARGV[i + 1], meta = ARGV[i + 2], rooms = {{}}}}
  for j = 1, n do
    record.rooms[ARGV[i + 3 + j]] = true
  end
  table.insert(records, record)
  live[record.sid] = true
  i = i + 4 + n
end
for _, member in ipairs(redis.call('SMEMBERS', nk(p, ns, 'node:' .. node .. ':sockets'))) do
  local sid = split(member)
  if not live[sid] then
    local entity = unregister(p, node, ns, sid)
    if entity then
      table.insert(changed, 'offline')
      table.insert(changed, entity)
    end
  end
end
for _, r in ipairs(records) do
  if register(p, node, ns, r.sid, r.entity, r.meta) == 1 then
    table.insert(changed, 'online')
    table.insert(changed, r.entity)
  end
  set_meta(p, ns, r.sid, r.entity, r.meta)
  for _, room in ipairs(redis.call('SMEMBERS', rooms_key(p, ns, r.sid))) do
    if not r.rooms[room] then
      leave(p, ns, r.sid, room)
    end
  end
  for room in pairs(r.rooms) do
    join(p, ns, r.sid, room)
  end
end
return changed"#
    )
}

/// KEYS[1]: a key of the namespace. ARGV: prefix, dead node, namespace. Removes every socket
/// the node had there, with its metas, index entries and rooms; returns the entities that went
/// offline.
pub(super) fn reap() -> String {
    format!(
        r#"{PRELUDE}
local p, dead, ns = ARGV[1], ARGV[2], ARGV[3]
local offline = {{}}
local key = nk(p, ns, 'node:' .. dead .. ':sockets')
for _, member in ipairs(redis.call('SMEMBERS', key)) do
  local entity = unregister(p, dead, ns, split(member))
  if entity then
    table.insert(offline, entity)
  end
end
redis.call('DEL', key)
return offline"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_s_keys_share_one_hash_tag() {
        assert_eq!(namespace_key("venta", "user", "online"), "{venta:ns:user}:online");
        assert_eq!(node_key("venta", "nodes"), "{venta}:nodes");
    }
}
