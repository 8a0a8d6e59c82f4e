//! The wire protocol: JSON envelopes `{"event", "data", "id"?}` in text frames.

use std::borrow::Cow;
use std::fmt;

use axum::extract::ws::Utf8Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{FieldError, GatewayError};
use crate::rules;

/// The event name of error envelopes, reserved for the server.
pub const ERROR_EVENT: &str = rules::ERROR_EVENT;

/// The event a client sends with a fresh token as `data` to extend its socket's life; the
/// server acks it with `{"expiresAt": <unix seconds>}`. Reserved.
pub const REFRESH_EVENT: &str = rules::REFRESH_EVENT;

/// The event the server pushes before a socket's token expires, with
/// `{"expiresAt": <unix seconds>}`, asking for an `auth.refresh`. Reserved.
pub const EXPIRING_EVENT: &str = rules::EXPIRING_EVENT;

/// The id a client attaches to a message to ask for an acknowledgement.
///
/// Either a non-negative integer or a string; the ack carries it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageId {
    /// A numeric id, such as `7`.
    Number(u64),
    /// A string id, such as `"a1b2"`.
    Text(String),
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One decoded client message, borrowing from the frame it came in.
#[derive(Debug)]
pub struct Request<'a> {
    event: Cow<'a, str>,
    data: Option<&'a RawValue>,
    id: Option<MessageId>,
}

/// An envelope as it travels, either way: what a client sends, and what the server writes
/// (which the Socket.IO pipe reads back to build its packets).
#[derive(Deserialize)]
pub(crate) struct WireEnvelope<'a> {
    #[serde(borrow)]
    pub(crate) event: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) data: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) id: Option<MessageId>,
}

/// Why a frame could not be read as an envelope.
#[derive(Debug)]
pub(crate) struct DecodeError {
    /// The id found in the frame, when it was readable, so the error can still be acked.
    pub(crate) id: Option<MessageId>,
    /// What was wrong, as sent to the client; it may quote the frame.
    pub(crate) message: String,
    /// What was wrong, without quoting the frame, for logs.
    logged: String,
}

impl DecodeError {
    fn new(id: Option<MessageId>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self { id, logged: message.clone(), message }
    }

    /// The `malformed_envelope` error this is answered with.
    pub(crate) fn to_error(&self) -> GatewayError {
        GatewayError::quoting_input("malformed_envelope", self.message.clone(), self.logged.clone())
    }
}

impl<'a> Request<'a> {
    /// Reads one text frame.
    pub(crate) fn decode(text: &'a str) -> Result<Self, DecodeError> {
        match serde_json::from_str::<WireEnvelope<'a>>(text) {
            Ok(wire) => {
                if wire.event.is_empty() {
                    return Err(DecodeError::new(wire.id, "`event` must not be empty"));
                }
                Ok(Self { event: wire.event, data: wire.data, id: wire.id })
            }
            Err(err) => Err(DecodeError {
                id: salvage_id(text),
                message: envelope_error(&err),
                logged: format!("not an envelope: {}", without_input(&err)),
            }),
        }
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The id that asks for an acknowledgement, if the client sent one.
    pub fn id(&self) -> Option<&MessageId> {
        self.id.as_ref()
    }

    /// The raw JSON of `data`, if present.
    pub fn raw_data(&self) -> Option<&'a RawValue> {
        self.data
    }

    /// Deserializes `data` into the handler's payload type; a missing `data` reads as `null`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, GatewayError> {
        let raw = self.data.map_or("null", RawValue::get);
        serde_json::from_str(raw).map_err(|err| {
            GatewayError::quoting_input(
                "invalid_payload",
                format!("`data` of event `{}` is invalid: {err}", self.event),
                format!("`data` does not fit the handler's payload type: {}", without_input(&err)),
            )
        })
    }
}

/// Finds a usable `id` in a frame that is not a valid envelope, so the error still reaches
/// the request that caused it.
fn salvage_id(text: &str) -> Option<MessageId> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<MessageId>,
    }
    serde_json::from_str::<IdOnly>(text).ok().and_then(|found| found.id)
}

fn envelope_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof => format!("malformed JSON: {err}"),
        Category::Data | Category::Io => {
            format!("expected an envelope {{\"event\": string, \"data\"?: any, \"id\"?: integer or string}}: {err}")
        }
    }
}

/// What kind of JSON error `err` is and where, without the input it may quote.
fn without_input(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match err.classify() {
        Category::Syntax => "malformed JSON",
        Category::Eof => "JSON ends early",
        Category::Data => "unexpected type or value",
        Category::Io => "unreadable",
    };
    format!("{kind} at line {}, column {}", err.line(), err.column())
}

#[derive(Serialize)]
struct WireEvent<'a, T: ?Sized> {
    event: &'a str,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a MessageId>,
}

/// Encodes one envelope into a text frame. Encoding happens once per event, however many
/// sockets receive the frame.
pub(crate) fn encode<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
    id: Option<&MessageId>,
) -> Result<Utf8Bytes, serde_json::Error> {
    serde_json::to_string(&WireEvent { event, data, id }).map(Utf8Bytes::from)
}

#[derive(Serialize)]
struct WireError<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    details: &'a [FieldError],
}

/// Encodes the `error` envelope answering `error`: its code, message and (when it has any)
/// details.
pub(crate) fn encode_error(error: &GatewayError, id: Option<&MessageId>) -> Utf8Bytes {
    let body = WireError { code: error.code(), message: error.message(), details: error.details() };
    // Strings and an id always serialize.
    encode(ERROR_EVENT, &body, id).unwrap_or_else(|_| {
        Utf8Bytes::from_static(r#"{"event":"error","data":{"code":"internal","message":"internal error"}}"#)
    })
}

/// The data of `auth.expiring` and of the answer to `auth.refresh`: when the socket's
/// credentials stop being accepted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Expiry {
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_event_data_and_numeric_or_string_ids() {
        let req = Request::decode(r#"{"event":"ping","data":{"a":1},"id":7}"#).expect("valid");
        assert_eq!(req.event(), "ping");
        assert_eq!(req.id(), Some(&MessageId::Number(7)));
        assert_eq!(req.raw_data().map(RawValue::get), Some(r#"{"a":1}"#));

        let req = Request::decode(r#"{"event":"ping","id":"x1"}"#).expect("valid");
        assert_eq!(req.id(), Some(&MessageId::Text("x1".into())));
        assert_eq!(req.payload::<Option<u8>>().expect("null payload"), None);
    }

    #[test]
    fn a_broken_envelope_keeps_its_id_when_the_id_is_readable() {
        let err = Request::decode(r#"{"data":1,"id":9}"#).expect_err("no event");
        assert_eq!(err.id, Some(MessageId::Number(9)));
        assert!(err.message.contains("event"), "{}", err.message);

        let err = Request::decode("{not json").expect_err("syntax");
        assert_eq!(err.id, None);
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);

        let err = Request::decode(r#"{"event":"","id":1}"#).expect_err("empty event");
        assert_eq!(err.id, Some(MessageId::Number(1)));
    }

    #[test]
    fn negative_or_fractional_ids_are_rejected() {
        assert!(Request::decode(r#"{"event":"a","id":-1}"#).is_err());
        assert!(Request::decode(r#"{"event":"a","id":1.5}"#).is_err());
    }

    #[test]
    fn encodes_envelopes_with_and_without_ids() {
        let frame = encode("pong", &serde_json::json!({"n": 1}), None).expect("encodes");
        assert_eq!(frame.as_str(), r#"{"event":"pong","data":{"n":1}}"#);
        let frame = encode_error(&GatewayError::new("unknown_event", "no handler"), Some(&MessageId::Number(3)));
        assert_eq!(
            frame.as_str(),
            r#"{"event":"error","data":{"code":"unknown_event","message":"no handler"},"id":3}"#
        );
        let invalid = GatewayError::invalid_payload("1 field is not valid", [FieldError::new("lat", "out of range")]);
        assert_eq!(
            encode_error(&invalid, None).as_str(),
            r#"{"event":"error","data":{"code":"invalid_payload","message":"1 field is not valid","details":[{"field":"lat","message":"out of range"}]}}"#
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Text that looks like an envelope, then cut anywhere.
        fn envelopes() -> impl Strategy<Value = String> {
            let id = prop_oneof![
                Just(String::new()),
                any::<u64>().prop_map(|n| format!(",\"id\":{n}")),
                any::<i64>().prop_map(|n| format!(",\"id\":{n}")),
                "[a-z0-9]{0,8}".prop_map(|s| format!(",\"id\":\"{s}\"")),
                Just(",\"id\":1e400".to_owned()),
            ];
            let data = prop_oneof![
                Just("null".to_owned()),
                any::<f64>().prop_map(|n| n.to_string()),
                "\\PC{0,16}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
                (1usize..300).prop_map(|depth| "[".repeat(depth) + &"]".repeat(depth)),
                Just("123456789012345678901234567890e999999".to_owned()),
            ];
            ("\\PC{0,12}", data, id, any::<prop::sample::Index>()).prop_map(|(event, data, id, cut)| {
                let full =
                    format!("{{\"event\":{},\"data\":{data}{id}}}", serde_json::to_string(&event).unwrap_or_default());
                let end = cut.index(full.len() + 1);
                let end = (0..=end).rev().find(|i| full.is_char_boundary(*i)).unwrap_or(0);
                full[..end].to_owned()
            })
        }

        proptest! {
            #[test]
            fn decoding_any_text_answers_without_panicking(text in "\\PC{0,64}") {
                if let Err(error) = Request::decode(&text) {
                    prop_assert!(!error.message.is_empty());
                }
            }

            #[test]
            fn truncated_and_odd_envelopes_decode_or_explain(text in envelopes()) {
                match Request::decode(&text) {
                    Ok(request) => {
                        prop_assert!(!request.event().is_empty());
                        let _ = request.payload::<serde_json::Value>();
                        let _ = encode(request.event(), &request.raw_data(), request.id());
                    }
                    Err(error) => prop_assert!(!error.message.is_empty()),
                }
            }
        }

        #[test]
        fn nesting_far_past_serde_jsons_limit_is_an_error_not_a_stack_overflow() {
            let deep = format!("{{\"event\":\"a\",\"data\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
            let request = Request::decode(&deep);
            // Either the envelope or the payload refuses it; nothing overflows.
            match request {
                Ok(request) => assert!(request.payload::<serde_json::Value>().is_err()),
                Err(error) => assert!(!error.message.is_empty()),
            }
        }
    }
}
