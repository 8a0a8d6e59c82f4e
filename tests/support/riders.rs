//! A rider gateway with presence meta, for the presence tests: a rider's token carries its
//! `tenant`, which its sockets' meta holds from the connect on, next to a `battery` number
//! that is kept but not indexed. Its events let a client change its meta, join rooms and
//! broadcast to them.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use venta_ws::prelude::*;
use venta_ws::presence::PresenceMeta;
use venta_ws::redis::RedisBackend;

use crate::{Client, Placement, SECRET, TestServer, now, sign};

/// Riders, at `/rider`.
#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt, entity = "Rider")]
pub struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    fn presence_meta(&self, identity: &Identity<StandardClaims>) -> PresenceMeta {
        let mut meta = PresenceMeta::new();
        if let Some(tenant) = identity.claims.extra.get("tenant") {
            meta.insert("tenant".to_owned(), tenant.clone());
        }
        meta.insert("battery".to_owned(), json!(100));
        meta
    }

    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        Reply::new("pong", data)
    }

    /// Replaces the socket's meta with `data`.
    #[subscribe("meta.set")]
    async fn set_meta(&self, socket: &AuthenticatedSocket, meta: PresenceMeta) -> Result<Ack, GatewayError> {
        socket.set_presence_meta(meta).await.map_err(GatewayError::internal)?;
        Ok(Ack(()))
    }

    /// Joins the room `data`.
    #[subscribe("room.join")]
    async fn join(&self, socket: &AuthenticatedSocket, room: String) -> Ack {
        socket.join(&room);
        Ack(())
    }

    /// Leaves the room `data`.
    #[subscribe("room.leave")]
    async fn leave(&self, socket: &AuthenticatedSocket, room: String) -> Ack {
        socket.leave(&room);
        Ack(())
    }

    /// The socket's rooms.
    #[subscribe("rooms")]
    async fn rooms(&self, socket: &AuthenticatedSocket) -> Ack<Vec<String>> {
        Ack(socket.rooms())
    }

    /// `data` is `[room, payload]`: `room.message` with the payload to the room but this
    /// socket; acks how many sockets of this node it reached.
    #[subscribe("room.broadcast")]
    async fn broadcast(&self, socket: &AuthenticatedSocket, data: (String, Value)) -> Result<Ack<usize>, GatewayError> {
        Ok(Ack(socket.broadcast_to_room(&data.0, "room.message", &data.1)?))
    }
}

/// A module with the rider gateway, its presence in memory, or in Redis when given.
pub fn rider_module(redis: Option<RedisBackend>) -> WebSocketModule {
    let builder = WebSocketModule::builder().jwt(JwtConfig::hs256(SECRET)).gateway(RiderGateway);
    let builder = match redis {
        Some(redis) => builder.redis(redis),
        None => builder,
    };
    builder.build().expect("the rider module builds")
}

/// A valid token for rider `sub` of `tenant`, good for an hour.
pub fn rider_token(sub: &str, tenant: &str) -> String {
    sign(&json!({"sub": sub, "tenant": tenant, "exp": now() + 3600}), SECRET, Algorithm::HS256)
}

/// Connects rider `sub` of `tenant` to `/rider`.
pub async fn rider(server: &TestServer, sub: &str, tenant: &str) -> Client {
    Client::connect(&server.url("/rider"), Some(&rider_token(sub, tenant)), Placement::Header).await
}
