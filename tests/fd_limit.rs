//! The server at its file descriptor limit, for real. tests/bin/fd_limited.rs serves the main
//! example in a child process whose RLIMIT_NOFILE is low (a limit is the whole process's, so
//! this test's own process keeps its own). The test fills the child's descriptor table with
//! idle connections, then checks that new clients are refused at once rather than left
//! waiting, that `accept failed` is logged a bounded number of times, and that the server
//! serves again once connections close. Linux only: it counts the child's descriptors in
//! /proc.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use venta_ws_tests::{Client, Placement, SECRET, token};

/// The child's RLIMIT_NOFILE.
const LIMIT: usize = 48;

/// New clients sent while the child is out of descriptors, one every [`CLIENT_GAP`].
const CLIENTS: usize = 40;
const CLIENT_GAP: Duration = Duration::from_millis(50);

/// How long a client refused for want of descriptors may wait before it sees its connection
/// closed.
const PROMPTLY: Duration = Duration::from_secs(1);

/// The child, its address, and its log lines as they come.
struct Server {
    process: tokio::process::Child,
    pid: u32,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start() -> Self {
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_venta-test-fd-limited"))
            .env("VENTA_FD_LIMIT", LIMIT.to_string())
            .env("VENTA_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .env_remove("REDIS_URL")
            .env_remove("VENTA_DEV_MODE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the fd-limited server");
        let pid = process.id().expect("running");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = BufReader::new(process.stderr.take().expect("stderr")).lines();
        let lines = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                lines.lock().unwrap_or_else(PoisonError::into_inner).push(line);
            }
        });
        let mut stdout = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the server starts in time")
            .expect("stdout reads")
            .unwrap_or_else(|| panic!("the server exited before listening: {:?}", log.lock()));
        let addr = line.strip_prefix("listening on ").expect("`listening on <addr>`").parse().expect("an address");
        Self { process, pid, addr, log }
    }

    /// The child's descriptors under its limit: those it opened itself. (It may have inherited
    /// others with higher numbers, which the limit does not count.)
    fn open_fds(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            return 0;
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<usize>().ok())
            .filter(|fd| *fd < LIMIT)
            .count()
    }

    fn fd_listing(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            return Vec::new();
        };
        let mut listing: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                Some(format!("{:?} -> {:?}", entry.file_name(), std::fs::read_link(entry.path()).ok()?))
            })
            .collect();
        listing.sort();
        listing
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn accept_failed_lines(&self) -> Vec<String> {
        self.log().into_iter().filter(|line| line.contains("accept failed")).collect()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            let accepts: Vec<String> = self.log().into_iter().filter(|line| line.contains("accept")).collect();
            assert!(
                Instant::now() < deadline,
                "{what}: not after 10 s; {} descriptors open; {accepts:#?}",
                self.open_fds()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The refused clients the accept lines of `log` count, summed.
fn refused_in(log: &[String]) -> usize {
    log.iter()
        .filter(|line| line.contains("accept failed") || line.contains("accepting again"))
        .filter_map(|line| line.split("refused=").nth(1)?.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_server_refuses_new_clients_at_once_logs_little_and_recovers() {
    let mut server = Server::start().await;

    // Fill the child's descriptor table with connections halfway through their request.
    let mut idle = Vec::new();
    loop {
        // Read once: the server may open a descriptor of its own between two reads.
        let before = server.open_fds();
        if before >= LIMIT {
            break;
        }
        assert!(idle.len() < LIMIT, "{} idle connections and the server still has descriptors", idle.len());
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(b"GET /user HTTP/1.1\r\n").await.expect("write");
        server.wait_for("the idle connection is accepted", |server| server.open_fds() > before).await;
        idle.push(stream);
    }
    // Linux fails accept(2) for want of a descriptor even when no client is queued, so the
    // server may log its first `accept failed` already.
    let full = Instant::now();

    // Now every new client is refused: its connection is closed at once, unanswered.
    let started = Instant::now();
    for client in 0..CLIENTS {
        let mut stream = TcpStream::connect(server.addr).await.expect("the kernel queues the connection");
        let sent = Instant::now();
        let _ = stream.write_all(b"GET /user HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(PROMPTLY, stream.read(&mut buffer)).await.unwrap_or_else(|_| {
            panic!("client {client} was left waiting for {PROMPTLY:?}; the server logged {:#?}", server.log())
        });
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "client {client} was answered: {:?}; {} open: {:#?}; log {:#?}",
            String::from_utf8_lossy(&buffer),
            server.open_fds(),
            server.fd_listing(),
            server.log()
        );
        assert!(sent.elapsed() < PROMPTLY);
        tokio::time::sleep(CLIENT_GAP).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = server.accept_failed_lines();
    println!("{:.1} s out of descriptors, logged: {failed:#?}", started.elapsed().as_secs_f64());
    assert!(
        (1..=2).contains(&failed.len()),
        "{} `accept failed` lines for {CLIENTS} refused clients in {:.1} s: {failed:#?}",
        failed.len(),
        started.elapsed().as_secs_f64()
    );

    // Once connections close, descriptors are free and the server serves again.
    drop(idle);
    server.wait_for("the idle connections are closed", |server| server.open_fds() < LIMIT / 2).await;
    let url = format!("ws://{}/user", server.addr);
    let mut client = Client::connect(&url, Some(&token("back")), Placement::Header).await;
    client.assert_answers_ping().await;
    client.close().await;

    // The failures not logged yet are, once the interval has passed: every refused client.
    tokio::time::sleep_until((full + Duration::from_millis(5_500)).into()).await;
    let mut client = Client::connect(&url, Some(&token("later")), Placement::Header).await;
    client.assert_answers_ping().await;
    // The first `accept failed` line may already count a refused client or not, depending on
    // whether one was queued when the first accept failed: together the lines count them all.
    server
        .wait_for("the lines count every refused client", |server| {
            let log = server.log();
            log.iter().any(|line| line.contains("accepting again")) && refused_in(&log) == CLIENTS
        })
        .await;
    assert!(server.accept_failed_lines().len() <= 2, "{:#?}", server.log());
    client.close().await;

    server.process.kill().await.expect("stop the server");
}
