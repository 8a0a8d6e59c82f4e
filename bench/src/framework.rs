//! The framework side: the main example's gateways, served as `cargo run --example location`
//! serves them, with one difference: no per-socket rate limit, because the baseline has none
//! and an echo benchmark would otherwise measure the limiter (100 messages/s per socket).
//! The soak serves the example with every default instead ([`serve_example`]).

use std::sync::Arc;

use tokio::net::TcpListener;
use venta_ws::{WebSocketModule, WebSocketModuleBuilder};
use venta_ws_examples::{Config, LocationService, UserLocationGateway, VendorGateway};

use crate::Error;

/// The example's module as `venta_ws_examples::module` builds it, with `rate_limit(None)`.
pub fn module(secret: &str) -> Result<WebSocketModule, Error> {
    Ok(builder(secret)?.build()?)
}

/// The builder of [`module`], for a side that adds to it (a Redis backend).
pub fn builder(secret: &str) -> Result<WebSocketModuleBuilder, Error> {
    let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| secret.to_owned()))?;
    let locations = Arc::new(LocationService::default());
    Ok(WebSocketModule::builder()
        .jwt(config.jwt())
        .allowed_origins(config.allowed_origins.iter().cloned())
        .rate_limit(None)
        .gateway(UserLocationGateway::new(Arc::clone(&locations)))
        .gateway(VendorGateway::new(locations)))
}

/// Serves the example's gateways on `listener` until the process ends.
pub async fn serve(listener: TcpListener, secret: &str) -> Result<(), Error> {
    let module = module(secret)?;
    venta_ws::serve(listener, module.router()).with_hub(module.hub()).await?;
    Ok(())
}

/// [`serve`] with metrics and tracing on, as a production deployment runs: the Prometheus
/// recorder installed, and a subscriber that formats every line and span `RUST_LOG` lets
/// through (default `info`; `info,venta_ws::message=debug` adds the message spans), written to
/// nowhere, so the measurement is of recording them, not of a terminal.
pub async fn serve_observed(listener: TcpListener, secret: &str) -> Result<(), Error> {
    let _prometheus = venta_ws::metrics::install()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // As `cargo run --example location` sets it up without the feature `otel`.
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::sink).with_ansi(false).init();
    serve(listener, secret).await
}

/// Serves the main example's module exactly as `venta_ws_examples::module` builds it (every
/// default limit, the rate limit included) on `listener` until the process ends: the soak's
/// server.
pub async fn serve_example(listener: TcpListener, secret: &str) -> Result<(), Error> {
    let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| secret.to_owned()))?;
    let locations = Arc::new(LocationService::default());
    let module = venta_ws_examples::module(&config, &locations)?;
    venta_ws::serve(listener, module.router()).with_hub(module.hub()).await?;
    Ok(())
}
