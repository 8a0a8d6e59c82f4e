//! The per-socket message rate: a token bucket every frame takes from, pings included.

use tokio::time::Instant;

use super::dispatch::fail;
use super::lifecycle::GatewayRuntime;
use crate::close::{Closure, RATE_LIMITED};
use crate::config::RateLimit;
use crate::error::{GatewayError, Operation};
use crate::gateway::{GatewayHandlers, SocketOf};
use crate::protocol::Request;
use axum::extract::ws::Message;

/// A token bucket.
pub(super) struct Bucket {
    pub(super) limit: RateLimit,
    pub(super) tokens: f64,
    pub(super) refilled: Instant,
    pub(super) violations: u32,
}

impl Bucket {
    pub(super) fn new(limit: RateLimit) -> Self {
        Self { limit, tokens: f64::from(limit.burst), refilled: Instant::now(), violations: 0 }
    }

    /// Takes one token; `false` when the socket is over its rate.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.per_second)).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.violations = 0;
            true
        } else {
            self.violations += 1;
            false
        }
    }
}

pub(super) fn rate_limited<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    bucket: &Bucket,
    message: &Message,
) {
    let id = match message {
        Message::Text(text) if !G::READS_TEXT => {
            Request::decode(text.as_str()).ok().and_then(|request| request.id().cloned())
        }
        _ => None,
    };
    crate::metrics::rate_limited(G::DESCRIPTOR.namespace);
    let mut error = GatewayError::new("rate_limited", RATE_LIMITED);
    if bucket.violations >= bucket.limit.max_violations {
        error = error.closing(Closure::RateLimited.code());
    }
    fail(runtime, socket, Operation::Decode, error, id.as_ref());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bucket_allows_bursts_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(RateLimit { per_second: 10, burst: 3, max_violations: 2 });
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert_eq!(bucket.violations, 1);
        assert!(bucket.take(start + Duration::from_millis(100)), "one token refills in 100 ms");
        assert_eq!(bucket.violations, 0, "an accepted message resets the violations");
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }
}
