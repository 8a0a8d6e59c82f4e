//! The raw echo gateway: `cargo run --example echo` serves it on `VENTA_ADDR` (default
//! `127.0.0.1:9001`, where the Autobahn suite's clients look for it).

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();
    let addr: SocketAddr = std::env::var("VENTA_ADDR").unwrap_or_else(|_| "127.0.0.1:9001".into()).parse()?;
    let module = venta_ws_examples::echo::echo_module()?;
    let listener = venta_ws::bind(addr)?;
    println!("echo gateway on ws://{}/", listener.local_addr()?);
    venta_ws::serve(listener, module.router())
        .with_hub(module.hub())
        .with_graceful_shutdown(async {
            venta_ws_examples::shutdown_signal().await;
        })
        .await?;
    Ok(())
}
