//! The soak works end to end at a tiny size: 10 hostile sockets for 3 s, no warm-up, and every
//! check after them. The behaviours that fan vendor updates out to user sockets are left out
//! (see BENCHMARKS.md, "Soak": they find two open server defects, which would make this test
//! fail by chance); the full mix runs by hand.

use std::process::Command;

#[test]
fn a_tiny_soak_runs_every_check_and_passes() {
    let log = std::env::temp_dir().join(format!("venta-ws-soak-smoke-{}.log", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_venta-ws-bench"))
        .args(["soak", "--sockets", "10", "--good", "2", "--seconds", "3", "--warmup-secs", "0"])
        .args(["--settle-secs", "1", "--burst", "10", "--seed", "1"])
        .args(["--skip", "vendor-updates,vendor-burst,close-during-pushes", "--log"])
        .arg(&log)
        .output()
        .expect("the harness runs");
    let _ = std::fs::remove_file(&log);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the soak failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for line in
        ["| behaviour | episodes |", "Server RSS:", "Presence on /user:", "fresh connects in", "0 with `panicked`"]
    {
        assert!(stdout.contains(line), "the summary has no `{line}`:\n{stdout}");
    }
    assert!(stdout.contains(": exact."), "presence was not exact:\n{stdout}");
}
