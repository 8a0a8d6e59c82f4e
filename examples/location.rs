//! The main example: `cargo run --example location`.
//!
//! Serves the `user` and `vendor` gateways on `VENTA_ADDR` (default `127.0.0.1:3000`) with
//! in-memory presence. Get a token with `cargo run --example token -- user-1`. The live presence
//! page is at `/`, with counters it reads from `/metrics` on the same address. Probes and
//! Prometheus metrics are on `VENTA_PROBES_ADDR` (default `127.0.0.1:9090`, `off` for none);
//! `VENTA_LOG_FORMAT=json` logs JSON lines. Built with `--features otel` and given
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://collector:4318`), it exports its traces over OTLP: a
//! span per socket, and one per message inside it. Ctrl-C or SIGTERM shut down gracefully:
//! readiness turns 503, then sockets close with 1001. `VENTA_DEV_MODE=1` (or `--dev`) lets it
//! mint tokens, see `demo`.

use std::io::IsTerminal;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use venta_ws_examples::{Config, LocationService, connect_module, demo};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let traces = init_tracing()?;
    let prometheus = venta_ws::metrics::install()?;

    let mut config = Config::from_env()?;
    if std::env::args().skip(1).any(|arg| arg == demo::DEV_MODE_FLAG) {
        config.enable_dev_mode();
    }
    if config.development_secret {
        tracing::warn!(
            "JWT_SECRET is not set: using the built-in development secret. Anyone can mint tokens for it; \
             set JWT_SECRET before exposing this server"
        );
    }
    let locations = Arc::new(LocationService::default());
    let module = connect_module(&config, &locations).await?;

    if let Some(addr) = config.probes_addr {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(probes) => {
                tracing::info!(%addr, "serving /livez, /readyz and /metrics");
                let router = venta_ws::probes::router_with_metrics(module.hub(), prometheus.clone());
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(probes, router).await {
                        tracing::error!(%error, "the probes server stopped");
                    }
                });
            }
            // The sockets are still served; set VENTA_PROBES_ADDR to a free address.
            Err(error) => tracing::error!(%addr, %error, "cannot serve the probes"),
        }
    }
    let listener = venta_ws::bind(config.addr)?;
    tracing::info!(
        addr = %listener.local_addr()?,
        origins = ?config.allowed_origins,
        "serving ws://{addr}/user and ws://{addr}/vendor, and Socket.IO clients at http://{addr}/socket.io/ \
         (namespaces /user and /vendor)",
        addr = config.addr
    );
    venta_ws::serve(listener, venta_ws_examples::app(&module, &config, Some(prometheus)))
        .with_hub(module.hub())
        .with_graceful_shutdown(async {
            venta_ws_examples::shutdown_signal().await;
            tracing::info!("shutting down: closing every socket with 1001");
        })
        .await?;
    #[cfg(feature = "otel")]
    if let Some(traces) = traces {
        traces.shutdown()?;
    }
    #[cfg(not(feature = "otel"))]
    let () = traces;
    Ok(())
}

/// Traces to flush before exiting: the OTLP export with the feature `otel`, else nothing.
#[cfg(feature = "otel")]
type Traces = Option<venta_ws::otel::Tracing>;
#[cfg(not(feature = "otel"))]
type Traces = ();

/// Logs to stdout, as JSON lines with `VENTA_LOG_FORMAT=json`; with the feature `otel` and
/// `OTEL_EXPORTER_OTLP_ENDPOINT` set, also exports traces there.
fn init_tracing() -> Result<Traces, Box<dyn std::error::Error>> {
    #[cfg(feature = "otel")]
    let traces = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => Some(venta_ws::otel::Tracing::otlp("venta-ws-location", None)?),
        None => None,
    };
    // Spans at INFO and the message spans (DEBUG, `venta_ws::message`); never TRACE, where
    // tungstenite logs whole frames, which may hold a token.
    #[cfg(feature = "otel")]
    let registry = tracing_subscriber::registry()
        .with(traces.as_ref().map(|traces| traces.layer().with_filter(EnvFilter::new("info,venta_ws::message=debug"))));
    #[cfg(not(feature = "otel"))]
    let (traces, registry) = ((), tracing_subscriber::registry());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var("VENTA_LOG_FORMAT").is_ok_and(|format| format == "json") {
        registry.with(tracing_subscriber::fmt::layer().json().with_filter(filter)).init();
    } else {
        let ansi = std::io::stdout().is_terminal();
        registry.with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_filter(filter)).init();
    }
    Ok(traces)
}
