//! Health probes for orchestrators, as an axum `Router` the application merges, on the
//! address it chooses:
//!
//! - `GET /livez`: 200 while the process serves HTTP.
//! - `GET /readyz`: 200 while the module accepts sockets; 503 with the reason in the body
//!   (`draining`) once [`Hub::shutdown`] has started, so a load balancer stops sending
//!   sockets before they are closed.
//! - `GET /metrics`: the Prometheus text of [`crate::metrics::install`]'s handle (feature
//!   `metrics`, [`router_with_metrics`]).
//!
//! ```
//! # use venta_ws::prelude::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = WebSocketModule::builder().build()?;
//! let probes: axum::Router = venta_ws::probes::router(module.hub());
//! # let _ = probes;
//! # Ok(())
//! # }
//! ```

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::hub::Hub;

/// `/livez` and `/readyz` for `hub`'s module.
pub fn router(hub: Hub) -> Router {
    Router::new().route("/livez", get(livez)).route("/readyz", get(readyz)).with_state(hub)
}

/// `/livez`, `/readyz`, and `/metrics` rendering `handle` (feature `metrics`).
#[cfg(feature = "metrics")]
pub fn router_with_metrics(hub: Hub, handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    let metrics = Router::new()
        .route(
            "/metrics",
            get(|State(handle): State<metrics_exporter_prometheus::PrometheusHandle>| async move {
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }),
        )
        .with_state(handle);
    router(hub).merge(metrics)
}

async fn livez() -> &'static str {
    "ok"
}

async fn readyz(State(hub): State<Hub>) -> (StatusCode, &'static str) {
    if hub.is_shutting_down() { (StatusCode::SERVICE_UNAVAILABLE, "draining") } else { (StatusCode::OK, "ready") }
}
