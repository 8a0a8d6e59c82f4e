//! The main example in a process of its own with few file descriptors, for tests/fd_limit.rs:
//! lowers its RLIMIT_NOFILE to `VENTA_FD_LIMIT` before anything else opens one, then serves
//! the example's gateways (configured by the example's environment variables) with a
//! handshake deadline of a minute, so that connections the test leaves idle hold their
//! descriptors. A limit is the whole process's, which is why this is a process of its own.
//! Logs to stderr; prints `listening on <addr>` once it accepts connections.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use venta_ws_examples::{Config, LocationService, module};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limit: u64 = std::env::var("VENTA_FD_LIMIT")
        .map_err(|_| "set VENTA_FD_LIMIT to the number of file descriptors to allow")?
        .parse()?;
    lower_fd_limit(limit)?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(serve())
}

#[cfg(unix)]
fn lower_fd_limit(limit: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let maximum = getrlimit(Resource::Nofile).maximum;
    setrlimit(Resource::Nofile, Rlimit { current: Some(limit), maximum })?;
    Ok(())
}

#[cfg(not(unix))]
fn lower_fd_limit(_limit: u64) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "file descriptor limits are a Unix thing"))
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let module = module(&config, &Arc::new(LocationService::default()))?;
    let listener = venta_ws::bind(config.addr)?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    venta_ws::serve(listener, module.router())
        .with_hub(module.hub())
        .handshake_timeout(Duration::from_secs(60))
        .await?;
    Ok(())
}
