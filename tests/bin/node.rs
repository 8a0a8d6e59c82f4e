//! One node of the main example in a process of its own, for the tests that need real
//! server processes (one of them killed). Configured by the example's environment variables;
//! prints `listening on <addr>` once it accepts connections. Serves its probes and Prometheus
//! metrics (`/livez`, `/readyz`, `/metrics`) on the same address.

use std::io::Write;
use std::sync::Arc;

use venta_ws_examples::{Config, LocationService, connect_module};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = venta_ws::metrics::install()?;
    let config = Config::from_env()?;
    let locations = Arc::new(LocationService::default());
    let module = connect_module(&config, &locations).await?;
    let listener = venta_ws::bind(config.addr)?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let app = module.router().merge(venta_ws::probes::router_with_metrics(module.hub(), metrics));
    venta_ws::serve(listener, app).with_hub(module.hub()).await?;
    Ok(())
}
