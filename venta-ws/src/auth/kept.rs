//! What a socket keeps of its handshake request, so that `auth.refresh` can run
//! `validate_connection` again as a connect would.

use axum::http::header::{
    AUTHORIZATION, CONNECTION, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::{ConnectRequest, Token};

/// Headers a socket does not keep: the WebSocket handshake's own, and those that carry the
/// token it connected with.
const NOT_KEPT: [HeaderName; 7] = [
    AUTHORIZATION,
    CONNECTION,
    SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION,
    UPGRADE,
];

impl ConnectRequest {
    /// The request as a connected socket keeps it: its path, the client's address and its
    /// headers but for the handshake's own and the token's, copied so they do not hold on to
    /// the connection's read buffer.
    pub(crate) fn kept(&self) -> Self {
        // Sized for what is kept: a grown map would hold room for six or more headers.
        let kept = self.headers.keys().filter(|name| !NOT_KEPT.contains(name)).count();
        let mut headers = HeaderMap::with_capacity(kept);
        for (name, value) in &self.headers {
            if !NOT_KEPT.contains(name)
                && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
            {
                headers.append(name.clone(), value);
            }
        }
        let uri = Uri::try_from(self.uri.path()).unwrap_or_default();
        Self { headers, uri, remote_addr: self.remote_addr, token: None }
    }

    /// A kept request presenting the token of an `auth.refresh`.
    pub(crate) fn refreshed(&self, token: Token) -> Self {
        Self { headers: self.headers.clone(), uri: self.uri.clone(), remote_addr: self.remote_addr, token: Some(token) }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header::{HOST, USER_AGENT};

    use super::*;
    use crate::auth::TokenSource;

    #[test]
    fn a_kept_request_has_no_token_and_no_handshake_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.com"));
        headers.insert(USER_AGENT, HeaderValue::from_static("rider-app/7"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer old.token.here"));
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        let uri: Uri = "/user?token=old.token.here".parse().expect("uri");
        let request = ConnectRequest::new(headers, uri, None);
        assert!(request.token().is_some());

        let kept = request.kept();
        assert!(kept.token().is_none());
        assert_eq!(kept.path(), "/user");
        assert_eq!(kept.uri.query(), None, "the query string may hold the token");
        assert_eq!(kept.headers().len(), 2, "{:?}", kept.headers());
        assert_eq!(kept.headers()[USER_AGENT], "rider-app/7");

        let refreshed = kept.refreshed(Token::new("new.token.here", TokenSource::Refresh));
        assert_eq!(refreshed.token().map(Token::expose), Some("new.token.here"));
        assert_eq!(refreshed.headers()[HOST], "example.com");
    }
}
