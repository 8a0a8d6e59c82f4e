//! Prints a token for trying the main example: `cargo run --example token -- user-1 [ttl-secs]`.
//!
//! Signed with `JWT_SECRET` (or the development secret), with `JWT_ISSUER` and `JWT_AUDIENCE`
//! when set, exactly as the server expects.

use venta_ws_examples::{Config, mint_token};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let subject = args.next().ok_or("usage: cargo run --example token -- <entity-id> [ttl-secs]")?;
    let ttl = match args.next() {
        Some(ttl) => ttl.parse().map_err(|_| format!("ttl `{ttl}` is not a number of seconds"))?,
        None => 3600,
    };
    let config = Config::from_env()?;
    println!("{}", mint_token(&config, &subject, ttl));
    Ok(())
}
