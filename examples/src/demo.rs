//! The live presence page, and the development-mode token endpoint it signs in with.
//!
//! [`router`] serves, next to the gateways:
//!
//! - `GET /` and `GET /app.js`: a page (plain HTML and JavaScript, embedded in the binary) that
//!   connects to `/user` and `/vendor` with the token in `Sec-WebSocket-Protocol`, shows who is
//!   online in each namespace (asking `presence.online` every second), and shows the close code
//!   and reason whenever the server closes a socket, reconnecting as the README's client guide
//!   says.
//! - `POST /dev/token` with `{"sub": "alice", "kind": "user", "ttl": 3600}`, answering
//!   `{"token": .., "kind": "user", "path": "/user", "expiresAt": ..}` (the token carries the
//!   `kind` claim, so it connects to that gateway only): **only in development
//!   mode**, which is off unless `VENTA_DEV_MODE=1` (or `--dev` on the command line) turns it
//!   on. Anyone who can reach the server can then sign in as anyone, so it is logged loudly.
//!   The body has a deadline ([`TOKEN_REQUEST_DEADLINE`], then 408) and a size limit
//!   ([`MAX_TOKEN_REQUEST_BYTES`], then 413).
//!
//! [`crate::app`] serves `GET /metrics` (`venta_ws::probes::metrics_router`) on the page's
//! own origin, for the page's counters: open sockets per namespace, messages
//! received per second, refusals by close code. The page hides them when `/metrics` answers
//! 404. A deployment that keeps metrics private
//! serves them on the probes address only.
//!
//! Without development mode the page is still served, and signs in with a pasted token (from
//! `cargo run --example token -- user-1`, or `-- --vendor truck-1` for a vendor) instead of
//! minting one.
//!
//! Browsers send an `Origin` header, which must be in `ALLOWED_ORIGINS`. Development mode adds
//! the server's own origins (`http://127.0.0.1:3000`, and `http://localhost:3000` for a
//! loopback or unspecified address), so the page works when the example itself serves it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub use crate::Kind;
use crate::{AppError, Config, mint_token};

/// The environment variable that turns development mode on (`1`, `true`, `yes` or `on`).
pub const DEV_MODE_ENV: &str = "VENTA_DEV_MODE";

/// The command-line flag of `cargo run --example location -- --dev`, same as `VENTA_DEV_MODE=1`.
pub const DEV_MODE_FLAG: &str = "--dev";

/// The longest token lifetime the endpoint mints, in seconds (a day).
pub const MAX_TTL_SECS: u64 = 24 * 60 * 60;

/// The token lifetime when a request names none, in seconds (an hour).
pub const DEFAULT_TTL_SECS: u64 = 60 * 60;

/// The longest entity id the endpoint mints a token for.
pub const MAX_SUB_LEN: usize = 64;

/// How long `POST /dev/token` waits for its whole body once the headers are in; later, it
/// answers 408 and closes the connection.
pub const TOKEN_REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The largest body `POST /dev/token` reads; a larger one is answered 413.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 1024;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
/// socket.io-client 4.8.4's browser bundle, unmodified (static/vendor/README.md).
const SOCKET_IO_JS: &str = include_str!("../static/vendor/socket.io.min.js");
/// Replaced in `index.html` by `on` or `off`, so the page knows whether it may mint tokens.
const DEV_MODE_MARKER: &str = "__VENTA_DEV_MODE__";

/// Reads `VENTA_DEV_MODE`: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case).
pub fn parse_dev_mode(value: &str) -> Result<bool, AppError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(AppError::InvalidEnv {
            name: DEV_MODE_ENV,
            reason: format!("`{other}` is not a switch: write 1 to turn development mode on, 0 to keep it off"),
        }),
    }
}

/// The origins a browser sends for pages this server serves itself at `addr`:
/// `http://<addr>`, plus `http://localhost:<port>` and `http://127.0.0.1:<port>` (or
/// `http://[::1]:<port>`) when `addr` is a loopback or unspecified address.
pub fn own_origins(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut origins = Vec::new();
    if !addr.ip().is_unspecified() {
        origins.push(format!("http://{addr}"));
    }
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        let loopback = if addr.is_ipv4() { "127.0.0.1".to_owned() } else { "[::1]".to_owned() };
        origins.push(format!("http://{loopback}:{port}"));
        origins.push(format!("http://localhost:{port}"));
    }
    origins.dedup();
    origins
}

impl Config {
    /// Turns development mode on: the token endpoint is served, and the server's own origins
    /// ([`own_origins`]) join `ALLOWED_ORIGINS` so the page it serves may connect.
    pub fn enable_dev_mode(&mut self) {
        self.dev_mode = true;
        for origin in own_origins(self.addr) {
            if !self.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(&origin)) {
                self.allowed_origins.push(origin);
            }
        }
    }
}

/// The body of `POST /dev/token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The entity id, the token's `sub`: 1 to 64 letters, digits, `-`, `_`, `.` or `@`.
    pub sub: String,
    /// The gateway the token is for: its `kind` claim.
    pub kind: Kind,
    /// Lifetime in seconds, 1 to [`MAX_TTL_SECS`]; default [`DEFAULT_TTL_SECS`].
    #[serde(default)]
    pub ttl: Option<u64>,
}

/// The answer of `POST /dev/token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The HS256 token with `"kind": kind`, signed exactly as `cargo run --example token`
    /// signs it.
    pub token: String,
    /// The gateway the token is for.
    pub kind: Kind,
    /// The gateway's path, `/user` or `/vendor`.
    pub path: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl TokenRequest {
    fn validate(&self) -> Result<u64, String> {
        let sub_ok = !self.sub.is_empty()
            && self.sub.len() <= MAX_SUB_LEN
            && self.sub.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if !sub_ok {
            return Err(format!("`sub` must be 1 to {MAX_SUB_LEN} letters, digits, `-`, `_`, `.` or `@`"));
        }
        match self.ttl {
            None => Ok(DEFAULT_TTL_SECS),
            Some(ttl) if (1..=MAX_TTL_SECS).contains(&ttl) => Ok(ttl),
            Some(_) => Err(format!("`ttl` must be 1 to {MAX_TTL_SECS} seconds")),
        }
    }
}

/// The page's routes, and the token endpoint when `config.dev_mode` is on; merge it with the
/// module's router. Logs a loud warning when development mode is on.
pub fn router(config: &Config) -> Router {
    let index: Arc<str> = INDEX_HTML.replace(DEV_MODE_MARKER, if config.dev_mode { "on" } else { "off" }).into();
    let router = Router::new()
        .route("/", get(move || page(Arc::clone(&index))))
        .route("/app.js", get(|| async { text("text/javascript; charset=utf-8", APP_JS) }))
        .route("/vendor/socket.io.min.js", get(|| async { text("text/javascript; charset=utf-8", SOCKET_IO_JS) }));
    if !config.dev_mode {
        tracing::info!(
            "live presence page at http://{}/ (sign in with a token from `cargo run --example token -- user-1`; \
             {DEV_MODE_ENV}=1 lets the page mint them)",
            config.addr
        );
        return router;
    }
    tracing::warn!(
        origins = ?config.allowed_origins,
        "DEVELOPMENT MODE: POST /dev/token mints a token for ANY user or vendor id to anyone who can reach \
         http://{}/ ; the server's own origins were added to ALLOWED_ORIGINS. Never turn {DEV_MODE_ENV} on in \
         production",
        config.addr
    );
    if !config.addr.ip().is_loopback() {
        tracing::warn!(
            addr = %config.addr,
            "DEVELOPMENT MODE on a non-loopback address: other machines can mint tokens too"
        );
    }
    let dev = config.clone();
    router.route("/dev/token", post(move |request: Request| async move { dev_token(&dev, request).await }))
}

async fn page(index: Arc<str>) -> Response {
    text("text/html; charset=utf-8", index.to_string())
}

fn text(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = (status, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_error(status: StatusCode, message: String) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// An answer after which the connection is closed: the rest of the request body, if any, is
/// never read.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_large() -> Response {
    closing(json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a token request is at most {MAX_TOKEN_REQUEST_BYTES} bytes"),
    ))
}

/// Why a request body was not read whole.
enum BodyError {
    /// It is longer than the limit.
    TooLarge,
    /// The connection failed, or the body was not valid HTTP.
    Broken,
}

/// Reads `body` whole, refusing it once it passes `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `POST /dev/token`. Asks for `Content-Type: application/json`, which a cross-site form
/// cannot send without a CORS preflight that this server never answers. The body must arrive
/// within [`TOKEN_REQUEST_DEADLINE`] (408 otherwise) and be at most
/// [`MAX_TOKEN_REQUEST_BYTES`] (413 otherwise); both answers close the connection.
async fn dev_token(config: &Config, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json".to_owned());
    }
    let announced = headers.get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_TOKEN_REQUEST_BYTES as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(TOKEN_REQUEST_DEADLINE, read_body(body, MAX_TOKEN_REQUEST_BYTES)).await {
        Ok(Ok(body)) => body,
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Broken)) => {
            return closing(json_error(StatusCode::BAD_REQUEST, "the request body could not be read".to_owned()));
        }
        Err(_) => {
            let message = format!("the request body did not arrive in time ({} s)", TOKEN_REQUEST_DEADLINE.as_secs());
            return closing(json_error(StatusCode::REQUEST_TIMEOUT, message));
        }
    };
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, format!("expected {{\"sub\", \"kind\"}}: {error}")),
    };
    let ttl = match request.validate() {
        Ok(ttl) => ttl,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    let token = mint_token(config, &request.sub, request.kind, ttl);
    tracing::info!(sub = %request.sub, kind = ?request.kind, ttl, "development token minted");
    let response = TokenResponse {
        token,
        kind: request.kind,
        path: request.kind.path().to_owned(),
        expires_at: jsonwebtoken::get_current_timestamp() + ttl,
    };
    json_response(StatusCode::OK, &response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, AppError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn dev_mode_is_off_by_default_and_only_explicit_switches_turn_it_on() {
        assert!(!config(&[]).expect("config").dev_mode);
        assert!(!config(&[(DEV_MODE_ENV, "0")]).expect("config").dev_mode);
        for on in ["1", "true", "YES", "on"] {
            assert!(config(&[(DEV_MODE_ENV, on)]).expect("config").dev_mode, "{on}");
        }
        let error = config(&[(DEV_MODE_ENV, "maybe")]).expect_err("not a switch");
        assert!(error.to_string().contains(DEV_MODE_ENV), "{error}");
    }

    #[test]
    fn dev_mode_adds_the_servers_own_origins_and_nothing_else() {
        let off = config(&[]).expect("config");
        assert_eq!(off.allowed_origins, ["http://localhost:3000"]);
        let on = config(&[(DEV_MODE_ENV, "1")]).expect("config");
        assert_eq!(on.allowed_origins, ["http://localhost:3000", "http://127.0.0.1:3000"]);
        let custom =
            config(&[(DEV_MODE_ENV, "1"), ("VENTA_ADDR", "127.0.0.1:8080"), ("ALLOWED_ORIGINS", "https://a.b")])
                .expect("config");
        assert_eq!(custom.allowed_origins, ["https://a.b", "http://127.0.0.1:8080", "http://localhost:8080"]);
        assert_eq!(own_origins("0.0.0.0:80".parse().expect("addr")), ["http://127.0.0.1:80", "http://localhost:80"]);
        assert_eq!(own_origins("[::1]:3000".parse().expect("addr")), ["http://[::1]:3000", "http://localhost:3000"]);
        assert_eq!(own_origins("10.1.2.3:3000".parse().expect("addr")), ["http://10.1.2.3:3000"]);
    }

    #[test]
    fn token_requests_are_validated() {
        let request = |sub: &str, ttl: Option<u64>| TokenRequest { sub: sub.to_owned(), kind: Kind::User, ttl };
        assert_eq!(request("alice", None).validate(), Ok(DEFAULT_TTL_SECS));
        assert_eq!(request("vendor-7@x.y", Some(5)).validate(), Ok(5));
        assert!(request("", None).validate().is_err());
        assert!(request("a b", None).validate().is_err());
        assert!(request(&"a".repeat(MAX_SUB_LEN + 1), None).validate().is_err());
        assert!(request("alice", Some(0)).validate().is_err());
        assert!(request("alice", Some(MAX_TTL_SECS + 1)).validate().is_err());
    }
}
