//! Health probes for orchestrators (Kubernetes and the like), as a router the application
//! merges, on the address it chooses: `GET /livez`, `GET /readyz`, and with the feature
//! `metrics`, `GET /metrics` ([`router_with_metrics`]).
//!
//! ```
//! # use venta_ws::prelude::*;
//! # #[derive(WebSocketGateway)]
//! # #[gateway(namespace = "user", auth = Jwt)]
//! # struct UserGateway;
//! # #[venta_ws::messages]
//! # impl UserGateway {}
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = WebSocketModule::builder()
//!     .jwt(JwtConfig::hs256("a development secret, 32 bytes or more"))
//!     .gateway(UserGateway)
//!     .build()?;
//! let app = module.router().merge(venta_ws::probes::router(module.hub()));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::hub::{Hub, Readiness};

/// `GET /livez`: 200 `ok` while the process serves requests at all.
/// `GET /readyz`: 200 `ready` while the node takes new sockets; 503 with the reason
/// ([`Readiness::reason`]) once shutdown has started (readiness turns first, then the
/// sockets are closed in batches) and while its Redis is unreachable.
pub fn router(hub: Hub) -> Router {
    Router::new().route("/livez", get(livez)).route("/readyz", get(readyz)).with_state(hub)
}

/// `/livez`, `/readyz`, and `/metrics` rendering `handle` (feature `metrics`; the handle
/// comes from [`crate::metrics::install`]), after [`crate::metrics::refresh`] has set the
/// gauges read from the hub.
#[cfg(feature = "metrics")]
pub fn router_with_metrics(hub: Hub, handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    let metrics = Router::new()
        .route(
            "/metrics",
            get(|State((hub, handle)): State<(Hub, metrics_exporter_prometheus::PrometheusHandle)>| async move {
                crate::metrics::refresh(&hub).await;
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }),
        )
        .with_state((hub.clone(), handle));
    router(hub).merge(metrics)
}

async fn livez() -> &'static str {
    "ok"
}

async fn readyz(State(hub): State<Hub>) -> (StatusCode, &'static str) {
    match hub.readiness() {
        Readiness::Ready => (StatusCode::OK, "ready"),
        not_ready => (StatusCode::SERVICE_UNAVAILABLE, not_ready.reason().unwrap_or("not ready")),
    }
}
