//! The rules `#[derive(WebSocketGateway)]` checks at compile time and the runtime checks when a
//! module is built: one source file, compiled into both crates (`venta-ws-macros/src/rules.rs`
//! is a link to it), so the two cannot drift. It imports nothing but `core`.
#![allow(dead_code, reason = "each crate that includes this file uses a part of it")]

/// The event of error envelopes.
pub(crate) const ERROR_EVENT: &str = "error";

/// The event a client sends with a fresh token, which the server answers itself.
pub(crate) const REFRESH_EVENT: &str = "auth.refresh";

/// The event the server pushes before a socket's token expires.
pub(crate) const EXPIRING_EVENT: &str = "auth.expiring";

/// Why a handler cannot be connected or disconnected by an event.
const CONNECT_IS_A_HOOK: &str = "because a connection is not a message: override the hook instead, `async fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError>`";

/// Event names no handler may take, each with the end of the error that says so: the server's
/// own events, and the lifecycle names of socket.io and NestJS, which are hooks in venta-ws
/// rather than messages, so a handler for them would never run.
pub(crate) const RESERVED_EVENTS: [(&str, &str); 6] = [
    (ERROR_EVENT, "for the server's error envelopes: choose another name, such as `\"app.error\"`"),
    ("connect", CONNECT_IS_A_HOOK),
    ("connection", CONNECT_IS_A_HOOK),
    (
        "disconnect",
        "because a disconnection is not a message: override the hook instead, `async fn on_disconnect(&self, socket: &AuthenticatedSocket, reason: &DisconnectReason)`",
    ),
    (REFRESH_EVENT, "for in-band token refresh, which the framework answers itself: choose another name"),
    (EXPIRING_EVENT, "for the server's token expiry warning: choose another name"),
];

/// Why `event` cannot be handled, when it is reserved.
pub(crate) fn reserved_event(event: &str) -> Option<&'static str> {
    RESERVED_EVENTS.iter().find(|(reserved, _)| *reserved == event).map(|(_, why)| *why)
}

/// Paths no gateway may be mounted at: load balancer and Kubernetes health probes and
/// Prometheus scrapes request them with plain HTTP `GET`s, which a gateway would answer with a
/// failed upgrade, so the service would look down (or, merged next to the application's own
/// route, axum would panic at start-up on the overlap).
pub(crate) const RESERVED_PATHS: [&str; 5] = ["/health", "/healthz", "/livez", "/readyz", "/metrics"];

/// An allowed origin as it is compared: `scheme://host[:port]`, lower-cased, without a
/// trailing slash; `None` when `origin` is not of that form.
pub(crate) fn normalize_origin(origin: &str) -> Option<String> {
    let trimmed = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, authority) = trimmed.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|port| !port.is_empty() && port.parse::<u16>().is_ok());
    (scheme_ok && host_ok && port_ok).then(|| trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_scheme_host_and_port() {
        for good in ["http://localhost:3000", "https://a.example.com", "http://[::1]:8080", "http://127.0.0.1"] {
            assert!(normalize_origin(good).is_some(), "{good}");
        }
        assert_eq!(normalize_origin("HTTPS://App.Example.com/").as_deref(), Some("https://app.example.com"));
        for bad in ["localhost:3000", "https://", "https://a.com/path", "http://a.com:port", "://a.com", "http://a b"] {
            assert!(normalize_origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_servers_own_events_and_the_lifecycle_names_are_reserved() {
        for event in [ERROR_EVENT, REFRESH_EVENT, EXPIRING_EVENT, "connect", "connection", "disconnect"] {
            assert!(reserved_event(event).is_some(), "{event}");
        }
        assert_eq!(reserved_event("location.update"), None);
    }
}
