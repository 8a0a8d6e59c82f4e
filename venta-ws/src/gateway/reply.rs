//! What a handler returns: `()`, [`Ack`], [`Reply`], or a `Result` of one of them.

use std::borrow::Cow;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::error::{GatewayError, IntoGatewayError};
use crate::protocol::{self, Request};

/// What a handler can return: `()`, [`Ack`], [`Reply`], or a `Result` of one of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by an event handler",
    label = "not a reply",
    note = "return `()`, `Ack<T>`, `Reply<T>`, or `Result<_, E>` of one of them, where `T: Serialize` and `GatewayError: From<E>`"
)]
pub trait IntoReply {
    /// Encodes the reply to `request`, or `None` when nothing is sent.
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError>;
}

/// Acknowledges the message with `data`, when the client asked for an ack with an `id`.
///
/// The ack is `{"event": <the request's event>, "data": <data>, "id": <the request's id>}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ack<T = ()>(pub T);

/// Answers with an event of its own name, whether or not the client sent an `id`
/// (the `id` is carried when it did): `Reply::new("pong", data)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<T> {
    event: Cow<'static, str>,
    data: T,
}

impl<T> Reply<T> {
    /// A reply event called `event` carrying `data`.
    pub fn new(event: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self { event: event.into(), data }
    }
}

fn encode_reply<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
    request: &Request<'_>,
) -> Result<Option<Utf8Bytes>, GatewayError> {
    protocol::encode(event, data, request.id()).map(Some).map_err(GatewayError::internal)
}

impl IntoReply for () {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        Ack(()).into_reply(request)
    }
}

impl<T: Serialize> IntoReply for Ack<T> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        match request.id() {
            Some(_) => encode_reply(request.event(), &self.0, request),
            None => Ok(None),
        }
    }
}

impl<T: Serialize> IntoReply for Reply<T> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        encode_reply(&self.event, &self.data, request)
    }
}

impl<R: IntoReply, E: IntoGatewayError> IntoReply for Result<R, E> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        self.map_err(IntoGatewayError::into_gateway_error)?.into_reply(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_sent_only_when_asked_for_and_replies_always() {
        let with_id = Request::decode(r#"{"event":"a","id":4}"#).expect("valid");
        let without = Request::decode(r#"{"event":"a"}"#).expect("valid");

        let ack = Ack(5).into_reply(&with_id).expect("ok").expect("sent");
        assert_eq!(ack.as_str(), r#"{"event":"a","data":5,"id":4}"#);
        assert!(Ack(5).into_reply(&without).expect("ok").is_none());
        assert_eq!(().into_reply(&with_id).expect("ok").expect("sent").as_str(), r#"{"event":"a","data":null,"id":4}"#);

        let reply = Reply::new("pong", 1).into_reply(&without).expect("ok").expect("sent");
        assert_eq!(reply.as_str(), r#"{"event":"pong","data":1}"#);

        let failed: Result<Ack<u8>, GatewayError> = Err(GatewayError::bad_request("no"));
        assert_eq!(failed.into_reply(&with_id).expect_err("error").code(), "bad_request");
    }
}
