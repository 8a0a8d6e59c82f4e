//! Prints a token for trying the main example:
//! `cargo run --example token -- [--vendor] <entity-id> [ttl-secs]`.
//!
//! A user token (`"kind": "user"`, for `/user`) unless `--vendor` asks for a vendor token
//! (`"kind": "vendor"`, for `/vendor`). Signed with `JWT_SECRET` (or the development secret),
//! with `JWT_ISSUER` and `JWT_AUDIENCE` when set, exactly as the server expects.

use venta_ws_examples::{Config, TokenArgs, mint_token};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = TokenArgs::parse(std::env::args().skip(1))?;
    let config = Config::from_env()?;
    println!("{}", mint_token(&config, &args.subject, args.kind, args.ttl_secs));
    Ok(())
}
