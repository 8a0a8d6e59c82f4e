//! Hooks and handlers run guarded: a panic in user code becomes an `internal` error, logged
//! with its message, instead of ending the socket's task without its cleanup.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use crate::error::GatewayError;

/// A panic caught in a hook or handler, kept as an error for logging.
#[derive(Debug, thiserror::Error)]
#[error("panicked: {0}")]
pub(super) struct Panicked(String);

impl Panicked {
    fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        Self(message)
    }
}

/// Runs a user future, turning a panic into an `internal` error.
///
/// A plain function returning the combinator, not an `async fn`: an `async fn` keeps its
/// argument twice in its future (as passed, and as awaited), and the read loop a socket lives
/// in is passed through here, so every socket would hold its state twice.
pub(super) fn guarded<F: Future>(future: F) -> impl Future<Output = Result<F::Output, GatewayError>> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .map(|caught| caught.map_err(|payload| GatewayError::internal(Panicked::from_payload(payload.as_ref()))))
}
