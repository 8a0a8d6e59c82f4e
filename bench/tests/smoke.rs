//! The harness works end to end: one round at a tiny size against every server, checked for a
//! complete table. Nothing here is timed: the numbers only have to exist.

use std::process::Command;

use venta_ws_bench::Side;
use venta_ws_bench::report::Report;

#[test]
fn one_tiny_round_produces_a_complete_table() {
    let json = std::env::temp_dir().join(format!("venta-ws-bench-smoke-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_venta-ws-bench"))
        .args(["run", "--connections", "20", "--fanout", "10,20", "--fanout-repeats", "2"])
        .args(["--echo-clients", "4", "--echo-secs", "0.3", "--echo-warmup-secs", "0.1"])
        .args(["--concurrency", "8", "--rounds", "1", "--settle-secs", "0.2", "--warmup", "2", "--json"])
        .arg(&json)
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the harness failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: Report = serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("valid JSON");
    let _ = std::fs::remove_file(&json);

    for side in Side::ALL {
        assert_eq!(report.measurements.iter().filter(|m| m.side == side).count(), 1, "{side:?} measured once");
    }
    for workload in ["connect storm", "idle memory", "echo", "fan-out (10 sockets)", "fan-out (20 sockets)"] {
        assert!(report.rows.iter().any(|row| row.workload.starts_with(workload)), "no row for {workload}");
    }
    for row in &report.rows {
        let values = [row.framework, row.baseline, row.axum_defaults.unwrap_or(f64::NAN), row.ratio];
        assert!(
            values.iter().all(|value| value.is_finite() && *value > 0.0),
            "{} / {}: every value must be a finite positive number, got {values:?}",
            row.workload,
            row.metric
        );
        assert!(stdout.contains(&row.metric), "the printed table has no `{}` line", row.metric);
    }
}
