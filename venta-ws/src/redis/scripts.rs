//! The Lua scripts that keep presence consistent in Redis: each runs atomically, so a socket
//! is registered or removed, and an entity's online state changes and is announced, in one
//! round trip.
//!
//! Keys, under the configured prefix `p`:
//! - `p:nodes`: the ids of live nodes;
//! - `p:node:<node>`: a node's heartbeat, with a TTL;
//! - `p:node:<node>:sockets`: a node's sockets, as `ns \x1f socket \x1f entity`;
//! - `p:ns:<ns>:sockets`: socket id to entity id;
//! - `p:ns:<ns>:entity:<entity>`: an entity's socket ids;
//! - `p:ns:<ns>:online`: the entities with at least one socket.
//!
//! Keys are computed inside the scripts, so this layout needs a single Redis server (or a
//! primary with replicas), not Redis Cluster.

/// Shared functions; every script starts with them.
const PRELUDE: &str = r#"
local function announce(p, channel, origin, ns, entity, status)
  redis.call('PUBLISH', channel, cjson.encode({kind = 'presence', origin = origin, ns = ns, entity = entity, status = status}))
end

local function register(p, channel, node, ns, sid, entity)
  local sockets = p .. ':ns:' .. ns .. ':sockets'
  if redis.call('HSETNX', sockets, sid, entity) == 0 then
    return 0
  end
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

/// ARGV: prefix, channel, node, namespace, socket, entity. Returns 1 when the entity came
/// online.
pub(super) fn register() -> String {
    format!("{PRELUDE}\nreturn register(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])")
}

/// ARGV: prefix, channel, node, namespace, socket. Returns 1 when the entity went offline.
pub(super) fn unregister() -> String {
    format!(
        "{PRELUDE}\nif unregister(ARGV[1], ARGV[2], ARGV[3], ARGV[3], ARGV[4], ARGV[5]) then return 1 end\nreturn 0"
    )
}

/// ARGV: prefix, channel, node, then `namespace, socket, entity` for every live socket of the
/// node. Makes Redis hold exactly those sockets for the node, after an outage.
pub(super) fn resync() -> String {
    format!(
        r#"{PRELUDE}
local p, channel, node = ARGV[1], ARGV[2], ARGV[3]
local live = {{}}
for i = 4, #ARGV, 3 do
  live[ARGV[i] .. '\31' .. ARGV[i + 1]] = true
end
for _, member in ipairs(redis.call('SMEMBERS', p .. ':node:' .. node .. ':sockets')) do
  local ns, sid = split(member)
  if not live[ns .. '\31' .. sid] then
    unregister(p, channel, node, node, ns, sid)
  end
end
for i = 4, #ARGV, 3 do
  register(p, channel, node, ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
return 1"#
    )
}

/// ARGV: prefix, channel, dead node, this node. Removes every socket of a node whose
/// heartbeat expired; returns `namespace, entity` pairs for the entities that went offline.
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
