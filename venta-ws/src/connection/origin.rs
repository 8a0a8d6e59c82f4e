//! The browser origin allow-list, checked before the upgrade.

use axum::http::HeaderMap;
use axum::http::header::ORIGIN;

use crate::error::ModuleError;

/// Which browser origins may open sockets on a gateway.
///
/// Requests without an `Origin` header are accepted: browsers always send one, so its absence
/// means a non-browser client (a server, a mobile app), which cross-site WebSocket hijacking
/// cannot involve and which must authenticate with its token anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginPolicy {
    /// Any origin (`*`).
    Any,
    /// Exactly these origins, lower-cased, without a trailing slash.
    List(Vec<String>),
}

impl OriginPolicy {
    pub(crate) fn from_list<I, S>(origins: I) -> Result<Self, ModuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for origin in origins {
            let origin = origin.as_ref().trim();
            if origin == "*" {
                return Ok(Self::Any);
            }
            list.push(validate_origin(origin)?);
        }
        Ok(Self::List(list))
    }

    /// Whether a handshake with these headers may proceed; `Err` holds the refused origin.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Self::List(allowed) = self else { return Ok(()) };
        let Some(origin) = headers.get(ORIGIN) else { return Ok(()) };
        let origin = origin.to_str().map_err(|_| String::from("<non-ASCII origin>"))?;
        if allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) { Ok(()) } else { Err(origin.to_owned()) }
    }
}

/// Checks that `origin` is `scheme://host[:port]`, and returns it lower-cased without a
/// trailing slash.
pub(crate) fn validate_origin(origin: &str) -> Result<String, ModuleError> {
    crate::rules::normalize_origin(origin).ok_or_else(|| ModuleError::InvalidOrigin { origin: origin.to_owned() })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_origin(origin: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static(origin));
        headers
    }

    #[test]
    fn only_listed_origins_pass_and_headerless_clients_are_not_browsers() {
        let policy = OriginPolicy::from_list(["http://localhost:3000", "https://app.example.com/"]).expect("valid");
        assert!(policy.check(&with_origin("http://localhost:3000")).is_ok());
        assert!(policy.check(&with_origin("https://APP.example.com")).is_ok());
        assert_eq!(policy.check(&with_origin("https://evil.example")), Err("https://evil.example".into()));
        assert!(policy.check(&with_origin("http://localhost:3001")).is_err());
        assert!(policy.check(&HeaderMap::new()).is_ok());
        assert!(OriginPolicy::from_list(["*"]).expect("valid").check(&with_origin("https://x.y")).is_ok());
    }
}
