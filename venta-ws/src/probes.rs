//! Health probes for orchestrators (Kubernetes and the like), as a router the application
//! merges, on the address it chooses: `GET /livez`, `GET /readyz`, and with the feature
//! `metrics`, `GET /metrics` ([`router_with_metrics`], or [`metrics_router`] alone).
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

/// `/livez`, `/readyz`, and [`metrics_router`]'s `/metrics` (feature `metrics`).
#[cfg(feature = "metrics")]
pub fn router_with_metrics(hub: Hub, handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    router(hub.clone()).merge(metrics_router(hub, handle))
}

/// `GET /metrics` alone (feature `metrics`): the Prometheus text of `handle` (from
/// [`crate::metrics::install`]), rendered after [`crate::metrics::refresh`] has set the gauges
/// read from the hub.
#[cfg(feature = "metrics")]
pub fn metrics_router(hub: Hub, handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State((hub, handle)): State<(Hub, metrics_exporter_prometheus::PrometheusHandle)>| async move {
                crate::metrics::refresh(&hub).await;
                let headers = [
                    (axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"),
                    (axum::http::header::CACHE_CONTROL, "no-store"),
                ];
                (headers, handle.render())
            }),
        )
        .with_state((hub, handle))
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
