//! Finding the token in a handshake request.

use std::fmt;

use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::{HeaderMap, Uri};

/// The subprotocol the server selects when a browser passes its token as a subprotocol.
pub const SUBPROTOCOL: &str = "venta-ws";

/// The prefix of the subprotocol that carries a token: `bearer.<token>`.
pub const SUBPROTOCOL_TOKEN_PREFIX: &str = "bearer.";

/// Where the client put its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    AuthorizationHeader,
    /// `Sec-WebSocket-Protocol: venta-ws, bearer.<token>`.
    Subprotocol,
    /// `?token=<token>`.
    QueryParameter,
    /// The `auth` payload of a Socket.IO client's CONNECT: `io(url, { auth: { token } })`.
    ConnectPayload,
    /// The `data` of an `auth.refresh` event on an open socket.
    Refresh,
}

/// A credential presented by a client. Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: String,
    source: TokenSource,
}

impl Token {
    /// A token as if the client had presented it; for tests and custom extraction.
    pub fn new(value: impl Into<String>, source: TokenSource) -> Self {
        Self { value: value.into(), source }
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the client put the token.
    pub fn source(&self) -> TokenSource {
        self.source
    }

    /// The token of a handshake: from the first place that holds one, in this order, with
    /// no fall-back once one is found (a bad `Bearer` token is not passed over for a good
    /// query-string one):
    ///
    /// 1. the first `Authorization` header, if its scheme is `Bearer` (in any case) and a
    ///    token follows; another scheme (`Basic ...`), a bare `Bearer` or a value that is not
    ///    visible ASCII holds none;
    /// 2. the first `bearer.<token>` entry of the `Sec-WebSocket-Protocol` headers, if not
    ///    empty;
    /// 3. the first `token` query parameter, URL-decoded, if not empty.
    pub(crate) fn extract(headers: &HeaderMap, uri: &Uri) -> Option<Self> {
        from_authorization(headers)
            .map(|value| Self::new(value, TokenSource::AuthorizationHeader))
            .or_else(|| from_subprotocol(headers).map(|value| Self::new(value, TokenSource::Subprotocol)))
            .or_else(|| from_query(uri).map(|value| Self::new(value, TokenSource::QueryParameter)))
    }
}

impl Token {
    /// The token of a Socket.IO client, from the first place that holds one: the `token` of
    /// its CONNECT `auth` payload, the first `Authorization: Bearer` header of its Engine.IO
    /// handshake (`extraHeaders`), the `token` query parameter (`query`). As for a plain
    /// WebSocket, the first place that holds one is the only one verified.
    #[cfg(feature = "socketio")]
    pub(crate) fn extract_socket_io(auth: Option<String>, headers: &HeaderMap, uri: &Uri) -> Option<Self> {
        auth.map(|value| Self::new(value, TokenSource::ConnectPayload))
            .or_else(|| from_authorization(headers).map(|value| Self::new(value, TokenSource::AuthorizationHeader)))
            .or_else(|| from_query(uri).map(|value| Self::new(value, TokenSource::QueryParameter)))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("value", &"<redacted>").field("source", &self.source).finish()
    }
}

fn from_authorization(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn subprotocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

fn from_subprotocol(headers: &HeaderMap) -> Option<String> {
    subprotocols(headers)
        .find_map(|proto| proto.strip_prefix(SUBPROTOCOL_TOKEN_PREFIX))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

pub(crate) fn offers_subprotocol(headers: &HeaderMap) -> bool {
    subprotocols(headers).any(|proto| proto == SUBPROTOCOL)
}

fn from_query(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_authorization_header_wins_over_the_other_places() {
        let uri: Uri = "/user?token=q".parse().expect("uri");
        let h = headers(&[("authorization", "Bearer h"), ("sec-websocket-protocol", "venta-ws, bearer.p")]);
        let token = Token::extract(&h, &uri).expect("found");
        assert_eq!((token.expose(), token.source()), ("h", TokenSource::AuthorizationHeader));
    }

    #[test]
    fn the_subprotocol_comes_before_the_query_string() {
        let uri: Uri = "/user?token=q".parse().expect("uri");
        let h = headers(&[("sec-websocket-protocol", "venta-ws, bearer.p.q.r")]);
        let token = Token::extract(&h, &uri).expect("found");
        assert_eq!((token.expose(), token.source()), ("p.q.r", TokenSource::Subprotocol));
        assert!(offers_subprotocol(&h));
    }

    #[test]
    fn the_query_parameter_is_url_decoded() {
        let uri: Uri = "/user?a=1&token=x%2By&b=2".parse().expect("uri");
        let token = Token::extract(&HeaderMap::new(), &uri).expect("found");
        assert_eq!((token.expose(), token.source()), ("x+y", TokenSource::QueryParameter));
    }

    #[test]
    fn empty_or_non_bearer_credentials_are_no_token() {
        let uri: Uri = "/user?token=".parse().expect("uri");
        let h = headers(&[("authorization", "Basic dXNlcg=="), ("sec-websocket-protocol", "bearer.")]);
        assert_eq!(Token::extract(&h, &uri), None);
        assert_eq!(Token::extract(&headers(&[("authorization", "Bearer ")]), &uri), None);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let token = Token::new("secret-value", TokenSource::QueryParameter);
        assert!(!format!("{token:?}").contains("secret-value"));
    }
}
