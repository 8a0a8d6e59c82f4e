//! Validated payloads (feature `validate`): NestJS's `ValidationPipe`, on [garde].
//!
//! A handler that takes [`Valid<T>`] gets its payload only when it deserializes *and* passes
//! `T`'s `#[garde(..)]` rules. Otherwise the client gets an `invalid_payload` error whose
//! `details` list every problem, one `{ "field", "message" }` per rule broken:
//!
//! ```json
//! {"event": "error", "id": 3, "data": {
//!   "code": "invalid_payload",
//!   "message": "`data` of event `order.create` is not valid: items[0].qty: lower than 1 (and 1 more)",
//!   "details": [
//!     {"field": "items[0].qty", "message": "lower than 1"},
//!     {"field": "note", "message": "length is greater than 140"}
//!   ]}}
//! ```
//!
//! `field` names each field as the client wrote it: under `#[serde(rename_all = "camelCase")]`
//! the Rust field `order_id` is reported as `orderId`, at any depth (a field renamed to a name
//! that no case convention gives keeps its Rust name).
//!
//! The rules are `T`'s, derived with `garde::Validate` (add `garde = { version = "0.23",
//! features = ["derive"] }` to your crate); rules that need a context take it from
//! `T::Context::default()`.
//!
//! ```
//! use serde::Deserialize;
//! use venta_ws::prelude::*;
//! use venta_ws::validate::Valid;
//!
//! #[derive(Deserialize, garde::Validate)]
//! struct Location {
//!     #[garde(range(min = -90.0, max = 90.0))]
//!     lat: f64,
//!     #[garde(range(min = -180.0, max = 180.0))]
//!     lng: f64,
//! }
//!
//! #[derive(WebSocketGateway)]
//! #[gateway(namespace = "user", auth = Jwt)]
//! struct UserGateway;
//!
//! #[venta_ws::messages]
//! impl UserGateway {
//!     #[subscribe("location.update")]
//!     async fn update(&self, Valid(location): Valid<Location>) -> Ack<(f64, f64)> {
//!         Ack((location.lat, location.lng))
//!     }
//! }
//! ```
//!
//! # Why garde
//!
//! garde reports a flat list of `(path, error)` with the full path of each field
//! (`items[0].qty`, through `#[garde(dive)]` into nested types, lists and maps), which is
//! exactly the `details` list, where validator's nested error tree would have to be walked and
//! its messages defaulted per rule. garde also makes every field state its rule (or
//! `#[garde(skip)]`), so a field added later is not left unchecked by accident, and takes
//! a typed context for rules that need outside data.
//!
//! [garde]: https://docs.rs/garde

mod names;

use std::ops::{Deref, DerefMut};

pub use garde;
use serde::de::DeserializeOwned;

use crate::error::{FieldError, GatewayError};
use crate::gateway::Payload;
use crate::protocol::Request;

/// A payload that deserialized and passed its `garde` rules; see the [module](self)
/// documentation. Guards see the `T` inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Valid<T>(pub T);

impl<T> Valid<T> {
    /// The validated value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Valid<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Payload for Valid<T>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    type Guarded = T;

    fn decode(request: &Request<'_>) -> Result<Self, GatewayError> {
        let value: T = request.payload()?;
        match value.validate() {
            Ok(()) => Ok(Self(value)),
            Err(report) => Err(invalid(request.event(), &report, names::translate::<T>)),
        }
    }

    fn guarded(&self) -> &T {
        &self.0
    }
}

/// The `invalid_payload` error for a failed validation: every problem in `details`, its path
/// named as the client wrote it (`name`), the first in `message`. Logs get the number of
/// problems only, since a path can hold a map key the client sent.
fn invalid(event: &str, report: &garde::Report, name: fn(&str) -> String) -> GatewayError {
    let details: Vec<FieldError> = report
        .iter()
        .map(|(path, error)| FieldError::new(name(&path.to_string()), error.message().to_owned()))
        .collect();
    let first = details.first().map_or_else(String::new, |first| match first.field.as_str() {
        "" => first.message.clone(),
        field => format!("{field}: {}", first.message),
    });
    let more = match details.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    let count = details.len();
    GatewayError::quoting_input(
        "invalid_payload",
        format!("`data` of event `{event}` is not valid: {first}{more}"),
        format!("`data` breaks {count} validation rule{}", if count == 1 { "" } else { "s" }),
    )
    .with_details(details)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, garde::Validate)]
    struct Order {
        #[garde(length(min = 1), dive)]
        items: Vec<Item>,
        #[garde(length(max = 5))]
        note: String,
    }

    #[derive(Debug, Deserialize, garde::Validate)]
    struct Item {
        #[garde(range(min = 1))]
        qty: u32,
    }

    fn decode(data: &str) -> Result<Valid<Order>, GatewayError> {
        let text = format!(r#"{{"event":"order.create","data":{data}}}"#);
        Valid::<Order>::decode(&Request::decode(&text).expect("envelope"))
    }

    #[test]
    fn every_broken_rule_is_listed_with_its_path() {
        let err = decode(r#"{"items":[{"qty":2},{"qty":0}],"note":"far too long"}"#).expect_err("invalid");
        assert_eq!(err.code(), "invalid_payload");
        let fields: Vec<&str> = err.details().iter().map(|detail| detail.field.as_str()).collect();
        assert_eq!(fields, ["items[1].qty", "note"]);
        assert!(err.message().starts_with("`data` of event `order.create` is not valid: items[1].qty: "), "{err:?}");
        assert!(err.message().ends_with("(and 1 more)"), "{err:?}");
        assert_eq!(err.to_string(), "invalid_payload: `data` breaks 2 validation rules", "logs carry no client input");
    }

    #[test]
    fn a_valid_payload_passes_and_one_that_does_not_deserialize_is_still_a_decode_error() {
        let order = decode(r#"{"items":[{"qty":1}],"note":"ok"}"#).expect("valid");
        assert_eq!(order.items.len(), 1);
        let err = decode(r#"{"items":"none","note":""}"#).expect_err("not an order");
        assert_eq!(err.code(), "invalid_payload");
        assert!(err.details().is_empty(), "a type mismatch is not a rule broken");
    }
}
