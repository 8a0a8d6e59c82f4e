//! Protocol conformance: the Autobahn WebSocket suite's cases 1 to 10 (framing, pings,
//! reserved bits, opcodes, fragmentation, UTF-8, close handling, limits, misc; compression is
//! not offered) against the raw echo gateway, driven by `kosoku` from PyPI, which runs the
//! suite's own case files. The results are committed in `tests/autobahn/expected.json`; any
//! change fails. `scripts/test setup` installs kosoku; `VENTA_SKIP_AUTOBAHN=1` skips locally.

use std::collections::BTreeMap;

use serde_json::Value;
use venta_ws_examples::echo::echo_module;
use venta_ws_tests::TestServer;

// The suite has no section 8.
const CASES: &[&str] = &["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"];

fn outcomes(report: &Value) -> BTreeMap<String, Value> {
    let cases = report.as_object().and_then(|agents| agents.values().next()).and_then(Value::as_object);
    let cases = cases.unwrap_or_else(|| panic!("unexpected report shape: {report}"));
    cases
        .iter()
        .map(|(case, result)| {
            // Informational cases are not judged by the suite, and their close code depends
            // on timing (7.1.6 sends a close after a 256 KiB message, then a ping).
            let informational = result["behavior"] == "INFORMATIONAL";
            let code = if informational { Value::Null } else { result["remoteCloseCode"].clone() };
            let kept = serde_json::json!({
                "behavior": result["behavior"],
                "behaviorClose": result["behaviorClose"],
                "remoteCloseCode": code,
            });
            (case.clone(), kept)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_gateway_passes_the_autobahn_suite() {
    if std::env::var_os("VENTA_SKIP_AUTOBAHN").is_some() {
        eprintln!("VENTA_SKIP_AUTOBAHN is set: not running the Autobahn suite");
        return;
    }
    let server = TestServer::start(echo_module().expect("echo module builds")).await;
    let reports = std::env::temp_dir().join(format!("venta-autobahn-{}", std::process::id()));
    let mut command = tokio::process::Command::new("kosoku");
    for case in CASES {
        command.args(["--include", case]);
    }
    command.args(["--parallelism", "2", "--outdir"]).arg(&reports).arg(server.addr.to_string());
    let output = command.output().await.unwrap_or_else(|error| {
        panic!("cannot run kosoku ({error}); `scripts/test setup` installs it (pip install kosoku)")
    });
    assert!(output.status.success() || reports.join("index.json").exists(), "kosoku failed: {output:?}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(reports.join("index.json")).expect("index.json"))
        .expect("index.json is JSON");
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(include_str!("autobahn/expected.json")).expect("expected.json is JSON");
    let actual = outcomes(&report);
    let _ = std::fs::remove_dir_all(&reports);

    let changed: Vec<String> = expected
        .keys()
        .chain(actual.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|case| expected.get(*case) != actual.get(*case))
        .map(|case| format!("{case}: expected {:?}, got {:?}", expected.get(case), actual.get(case)))
        .collect();
    assert!(changed.is_empty(), "Autobahn results changed:\n{}", changed.join("\n"));
    let failed = actual
        .values()
        .filter(|v| !["OK", "NON-STRICT", "INFORMATIONAL"].contains(&v["behavior"].as_str().unwrap_or("")))
        .count();
    assert_eq!(failed, 0, "every case passes");
}
