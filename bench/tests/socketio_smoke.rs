//! The Socket.IO comparison works end to end: one round at a tiny size against venta-ws and the
//! socketioxide server, every client connected (CONNECT acked, ping acked) and a complete table.
//! Nothing here is timed.

use std::process::Command;

#[test]
fn one_tiny_socket_io_round_measures_both_servers() {
    let json = std::env::temp_dir().join(format!("venta-ws-bench-sio-smoke-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_venta-ws-bench"))
        .args(["socketio", "--connections", "20", "--concurrency", "8", "--rounds", "1"])
        .args(["--settle-secs", "0.2", "--warmup", "2", "--json"])
        .arg(&json)
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the harness failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON results")).expect("valid JSON");
    let _ = std::fs::remove_file(&json);

    let measurements = saved["measurements"].as_array().expect("measurements");
    for side in ["venta-ws", "socketioxide"] {
        let m = measurements.iter().find(|m| m["side"] == side).unwrap_or_else(|| panic!("{side} not measured"));
        assert_eq!(m["connections"], 20);
        for key in ["per_second", "p50_ms", "server_cpu_us"] {
            assert!(m[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{side} {key}: {}", m[key]);
        }
    }
    for metric in ["idle memory per socket", "connect rate"] {
        assert!(stdout.contains(metric), "the printed table has no `{metric}` line:\n{stdout}");
    }
}
