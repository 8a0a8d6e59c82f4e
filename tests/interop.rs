//! Clients no one here wrote: tests/interop/interop.mjs drives the main example with the `ws`
//! npm package, signing its tokens with Node's own crypto. It connects with each token
//! placement, pings, asks for acks, provokes error envelopes and close codes (4401, 1009,
//! 4408), refreshes its token in-band, and is refused by origin.
//!
//! Needs `node` and `tests/interop/node_modules` (`scripts/test setup` installs them); fails with
//! that advice when they are missing, unless `VENTA_SKIP_INTEROP=1`.

#[path = "node/mod.rs"]
mod node;

use std::path::Path;
use std::time::Duration;

use node::{ExampleServer, SECRET};

const SKIP: &str = "VENTA_SKIP_INTEROP";

/// Every case the script runs; a case that silently disappeared from it fails here.
const CASES: [&str; 17] = [
    "token in the Authorization header",
    "token in ?token=",
    "token in Sec-WebSocket-Protocol",
    "acks carry the request id",
    "error envelopes",
    "presence follows clients coming and going",
    "a vendor's move is pushed to users",
    "4401 for a missing, malformed, wrongly signed, expired or unsigned token",
    "1009 for a message over 64 KiB",
    "browser origins",
    "auth.refresh moves the expiry in-band",
    "auth.expiring comes 30 s before expiry, then 4408",
    "the guide's client: requests get their own answer",
    "the guide's client: auth.expiring is answered with auth.refresh",
    "the guide's client: after 4408 it reconnects at once with a fresh token",
    "the guide's client: a fresh token refused with 4401 is final",
    "the guide's client: after 1009 it backs off and reconnects",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_ws_client_sees_the_documented_protocol() {
    if node::skipped(SKIP, "Node.js interop") {
        return;
    }
    let node = node::require_node_package("interop", "ws", SKIP);
    let server = ExampleServer::start(&[("ALLOWED_ORIGINS", "http://localhost:3000")]).await;

    let run = node::run_script(
        &node,
        "interop",
        "interop.mjs",
        &[
            ("VENTA_URL", format!("ws://{}", server.addr)),
            ("JWT_SECRET", SECRET.to_owned()),
            ("ALLOWED_ORIGIN", "http://localhost:3000".to_owned()),
        ],
        Duration::from_secs(90),
    )
    .await;
    assert!(run.success, "the Node.js client saw something else than documented\n{}", run.transcript());

    let result = run.result();
    assert_eq!(result["failed"], 0, "{}", run.transcript());
    let passed: Vec<&str> = result["passed"].as_array().expect("passed").iter().filter_map(|v| v.as_str()).collect();
    for case in CASES {
        assert!(passed.iter().any(|name| name.starts_with(case)), "case `{case}` did not pass\n{}", run.transcript());
    }
    assert_eq!(passed.len(), CASES.len(), "{passed:#?}");

    // Every client closed, and the server forgot every one of them.
    server.wait_online("user", &[]).await;
    server.wait_online("vendor", &[]).await;
}

#[test]
fn the_readme_prints_the_tested_client() {
    let source = std::fs::read_to_string(node::package_dir("interop").join("client.mjs")).expect("client.mjs");
    let start = source.find("// guide:start\n").expect("start marker") + "// guide:start\n".len();
    let end = source.find("// guide:end").expect("end marker");
    let guide = &source[start..end];
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    assert!(
        readme.contains(&format!("```js\n{guide}```")),
        "README.md's client guide no longer prints tests/interop/client.mjs (between the guide markers) verbatim; \
         copy it over"
    );
}
