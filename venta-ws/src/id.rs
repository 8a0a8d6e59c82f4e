//! Socket ids: unique across processes, so a Redis cluster can tell every node's sockets apart.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A socket's id, unique across processes: a random per-process prefix and a counter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(u128);

impl SocketId {
    /// A fresh id, never returned before by this process.
    pub fn next() -> Self {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(|| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                hasher.write_u128(now.as_nanos());
            }
            hasher.finish()
        });
        Self((u128::from(prefix) << 64) | u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)))
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({self})")
    }
}

/// The text is not a socket id (32 hexadecimal digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid socket id: expected 32 hexadecimal digits")]
pub struct ParseSocketIdError;

impl FromStr for SocketId {
    type Err = ParseSocketIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 32 {
            return Err(ParseSocketIdError);
        }
        u128::from_str_radix(text, 16).map(Self).map_err(|_| ParseSocketIdError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_are_unique_and_round_trip_through_text() {
        let (a, b) = (SocketId::next(), SocketId::next());
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse::<SocketId>(), Ok(a));
        assert_eq!("xyz".parse::<SocketId>(), Err(ParseSocketIdError));
    }
}
