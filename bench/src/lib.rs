//! The venta-ws load harness: the framework's main example and a hand-written axum gateway
//! doing the same work, each served by a child process, driven by the same client load from
//! the harness process, and compared as ratios (framework / baseline).
//!
//! - [`framework`] serves the example's `user` and `vendor` gateways through `venta_ws::serve`;
//! - [`baseline`] is the hand-written axum gateway: HS256 JWT verification on connect, presence
//!   in a map, `ping` → `pong`, and a vendor's `location.update` pushed to every user socket;
//! - [`load`] holds the client workloads (connect storm, fan-out, echo) over real sockets;
//! - [`run`] starts the servers one after the other, measures them, and collects the results;
//! - [`report`] turns the results into the ratio table, JSON and an SVG chart;
//! - [`socketio`] compares venta-ws over Socket.IO with a socketioxide server (memory, connects);
//! - [`cluster`] runs several nodes on one Redis and counts where emits go, with targeted
//!   delivery and with every publication to every node;
//! - [`soak`] runs hostile clients against the main example for a while and checks the server
//!   is still whole afterwards (memory, presence, new connections, no panic).

pub mod baseline;
pub mod cluster;
pub mod framework;
pub mod load;
pub mod measure;
pub mod report;
pub mod run;
pub mod soak;
pub mod socketio;

/// The HS256 secret both servers verify tokens with, and the harness signs them with.
pub const SECRET: &str = "venta-ws-bench-secret-of-32-bytes-or-more";

/// What a server prints on its first line of standard output once it accepts connections.
pub const LISTENING: &str = "listening";

/// Any error of the harness, with its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The read buffer of a baseline socket, the framework's default (`SocketConfig::read_buffer_size`).
pub const BASELINE_READ_BUFFER: usize = 2 * 1024;

/// Which server a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The framework's main example, served by `venta_ws::serve`.
    Framework,
    /// The hand-written axum gateway with the framework's 2 KiB read buffer: every ratio is
    /// taken against it.
    Baseline,
    /// The same hand-written gateway with axum's default WebSocket settings (128 KiB read
    /// buffer), as most hand-written gateways run.
    AxumDefaults,
    /// The framework side with metrics and tracing on: a Prometheus recorder installed and a
    /// `tracing` subscriber formatting every `info` line and span (to nowhere), so socket and
    /// message spans are recorded. `observe` compares it with [`Side::Framework`].
    FrameworkObserved,
}

impl Side {
    /// Every side, in the order reports show them.
    pub const ALL: [Self; 3] = [Self::Framework, Self::Baseline, Self::AxumDefaults];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Framework => "framework",
            Self::Baseline => "baseline",
            Self::AxumDefaults => "axum-defaults",
            Self::FrameworkObserved => "framework-observed",
        }
    }

    /// The side called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().chain([Self::FrameworkObserved]).find(|side| side.name() == name)
    }
}
