//! The HTTP side of the Socket.IO endpoint: the origin policy and CORS in front of Engine.IO's
//! long-polling and WebSocket requests, at the module's Socket.IO path.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use engineioxide::service::EngineIoService;
use tower::ServiceExt;

use super::engine::{Engine, SocketIoGateway};
use crate::logging::Untrusted;

/// The Engine.IO service and the gateways behind it.
pub(crate) struct Endpoint {
    pub(crate) service: EngineIoService<Engine>,
    pub(crate) gateways: Vec<Arc<dyn SocketIoGateway>>,
}

/// Every request at the Socket.IO path. An Engine.IO connection may join any of the
/// gateways, so its HTTP requests pass when the origin is one that some gateway admits; each
/// namespace it joins checks its own gateway's policy again (a refusal there is a
/// `connect_error` with 4403).
pub(crate) async fn serve_engine(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let headers = request.headers();
    let admitting: Vec<&Arc<dyn SocketIoGateway>> =
        endpoint.gateways.iter().filter(|gateway| gateway.admits_origin(headers)).collect();
    if admitting.is_empty() {
        let origin = headers.get(ORIGIN).map(|origin| String::from_utf8_lossy(origin.as_bytes()).into_owned());
        tracing::warn!(origin = %Untrusted(origin.as_deref().unwrap_or("")), transport = "socket.io", "handshake refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let credentials = admitting.iter().any(|gateway| gateway.credentials());
    let cors = cors_headers(headers, credentials);
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().extend(cors);
        let methods = HeaderValue::from_static("GET, POST, OPTIONS");
        response.headers_mut().insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        if let Some(asked) = request.headers().get(ACCESS_CONTROL_REQUEST_HEADERS) {
            response.headers_mut().insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        response.headers_mut().insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return response;
    }
    let response = match endpoint.service.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let mut response = response.map(Body::new);
    response.headers_mut().extend(cors);
    response
}

/// The CORS headers of a response to a browser's request from an admitted origin: the origin
/// itself (never `*`, so that credentials can be allowed), and credentials when a gateway
/// that admits it asks for them.
fn cors_headers(headers: &HeaderMap, credentials: bool) -> HeaderMap {
    let mut cors = HeaderMap::new();
    if let Some(origin) = headers.get(ORIGIN) {
        cors.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        cors.insert(VARY, HeaderValue::from_static("Origin"));
        if credentials {
            cors.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
    }
    cors
}
