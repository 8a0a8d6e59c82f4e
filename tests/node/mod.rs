//! Shared by the browser and interop tests: the main example served in-process exactly as
//! `cargo run --example location` serves it (gateways plus the presence page), and a Node.js
//! script run against it.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own part of this module

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use venta_ws::Hub;
use venta_ws_examples::{Config, LocationService, module};

/// The secret the in-process example verifies tokens with.
pub const SECRET: &str = "node-clients-test-secret-of-32-bytes-or-more";

/// The main example on a free loopback port.
pub struct ExampleServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The configuration it runs with.
    pub config: Config,
    /// Its module's hub.
    pub hub: Hub,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ExampleServer {
    /// Starts the example with these environment variables on top of `JWT_SECRET` and a
    /// `VENTA_ADDR` naming the port it got, so development mode adds the right origins.
    /// `{port}` in a value stands for that port. Its main address serves no `/metrics`.
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        Self::start_with_metrics(vars, None).await
    }

    /// [`ExampleServer::start`], serving `GET /metrics` from `metrics` on its main address as
    /// `cargo run --example location` does.
    pub async fn start_with_metrics(vars: &[(&str, &str)], metrics: Option<PrometheusHandle>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let addr_text = addr.to_string();
        let port = addr.port().to_string();
        let config = Config::from_lookup(|name| match name {
            "JWT_SECRET" => Some(SECRET.to_owned()),
            "VENTA_ADDR" => Some(addr_text.clone()),
            _ => vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.replace("{port}", &port)),
        })
        .expect("valid configuration");
        let locations = Arc::new(LocationService::default());
        let module = module(&config, &locations).expect("example module builds");
        let hub = module.hub();
        // The same router as examples/location.rs.
        let app = venta_ws_examples::app(&module, &config, metrics);
        let serve = venta_ws::serve(listener, app).with_hub(hub.clone());
        let task = tokio::spawn(async move {
            serve.await.expect("server runs");
        });
        Self { addr, config, hub, task }
    }

    /// The entity ids online in `namespace`, sorted.
    pub async fn online(&self, namespace: &str) -> Vec<String> {
        let mut online = self.hub.namespace(namespace).expect("namespace").online().await.expect("presence");
        online.sort();
        online
    }

    /// Waits until `namespace` has exactly `expected` online.
    pub async fn wait_online(&self, namespace: &str, expected: &[&str]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let online = self.online(namespace).await;
            if online == expected {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{namespace} online is {online:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `tests/<name>`, where a node script and its package.json live.
pub fn package_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// Where tests leave files for people to look at: `target/artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).expect("create target/artifacts");
    dir
}

/// Whether `var` is set to `1`: the only way to skip a test that needs outside tools.
pub fn skipped(var: &str, what: &str) -> bool {
    let skip = std::env::var(var).is_ok_and(|value| value.trim() == "1");
    if skip {
        eprintln!("skipping the {what} test: {var}=1");
    }
    skip
}

/// Panics with what to run when a tool this test needs is missing, unless `skip_var` was set
/// (checked by the caller with [`skipped`]): a missing browser must not pass silently.
pub fn require(found: bool, missing: &str, skip_var: &str) {
    assert!(
        found,
        "{missing}.\n  Run `.ci/run setup` from the repository root: it installs Debian's chromium (apt-get) and the \
         npm packages of tests/browser and tests/interop (npm ci).\n  To skip this test on a machine without them, \
         set {skip_var}=1; CI never does."
    );
}

/// The `node` executable, or `None` when there is none on `PATH`.
pub fn node() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("node")).find(|candidate| candidate.is_file())
}

/// Checks that `node` and the package's `node_modules/<dependency>` are there.
pub fn require_node_package(package: &str, dependency: &str, skip_var: &str) -> PathBuf {
    let node = node();
    require(node.is_some(), "`node` is not on PATH", skip_var);
    let installed = package_dir(package).join("node_modules").join(dependency).join("package.json");
    require(installed.is_file(), &format!("tests/{package}/node_modules/{dependency} is not installed"), skip_var);
    node.expect("checked above")
}

/// What a finished node script printed.
pub struct ScriptRun {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Whether it exited with 0.
    pub success: bool,
}

impl ScriptRun {
    /// The JSON after the `RESULT ` line the scripts print last.
    pub fn result(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("the script printed no RESULT line\n{}", self.transcript()));
        serde_json::from_str(line).expect("RESULT is JSON")
    }

    /// Both outputs, for a failure message.
    pub fn transcript(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Runs `node <script>` in `tests/<package>` with `env`, killing it after `timeout`.
pub async fn run_script(
    node: &Path,
    package: &str,
    script: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> ScriptRun {
    let mut command = tokio::process::Command::new(node);
    command
        .arg(script)
        .current_dir(package_dir(package))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().unwrap_or_else(|error| panic!("cannot start {}: {error}", node.display()));
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("tests/{package}/{script} did not finish within {timeout:?}"))
        .expect("node ran");
    let run = ScriptRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        success: output.status.success(),
    };
    // Shown by `cargo test` for a failing test, or with `-- --nocapture`.
    println!("{}", run.transcript());
    run
}
