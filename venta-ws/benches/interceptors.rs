//! What the interceptor chain costs per message, through the in-memory test harness: a gateway
//! with no interceptor at all (message spans off, so dispatch calls the handler directly)
//! against the same gateway with the message span interceptor (no subscriber listening, as a
//! server whose log level leaves it off) and with one pass-through interceptor of the
//! application's. On one runtime thread, so a round trip is the work of the harness and of
//! dispatch rather than of waking threads. Ratios against "none", in the same run:
//!
//! ```text
//! cargo bench -p venta-ws --features testing --bench interceptors
//! ```
//!
//! Without the feature `metrics`, so "none" really has no interceptor (with it, the metrics
//! interceptor is in every variant).

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use venta_ws::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
use venta_ws::prelude::*;
use venta_ws::testing;

#[derive(WebSocketGateway)]
#[gateway(namespace = "bench", auth = Jwt)]
struct BenchGateway;

#[venta_ws::messages]
impl BenchGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: u64) -> Ack<u64> {
        Ack(data)
    }
}

/// Calls the rest of the chain and returns its outcome unchanged.
struct PassThrough;

impl Interceptor for PassThrough {
    fn intercept<'a>(&'a self, _ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(next.run())
    }
}

const MESSAGES: u64 = 50_000;
const ROUNDS: usize = 7;

#[derive(Clone, Copy)]
enum Variant {
    None,
    MessageSpans,
    PassThrough,
}

impl Variant {
    const ALL: [Self; 3] = [Self::None, Self::MessageSpans, Self::PassThrough];

    fn name(self) -> &'static str {
        match self {
            Self::None => "no interceptor",
            Self::MessageSpans => "message span, no subscriber",
            Self::PassThrough => "one pass-through interceptor",
        }
    }

    fn module(self) -> WebSocketModule {
        let builder = WebSocketModule::builder()
            .jwt(JwtConfig::hs256("a benchmark secret of at least 32 bytes"))
            .rate_limit(None)
            .gateway(BenchGateway);
        let builder = match self {
            Self::None => builder.message_spans(false),
            Self::MessageSpans => builder,
            Self::PassThrough => builder.message_spans(false).interceptor(PassThrough),
        };
        builder.build().expect("the module builds")
    }
}

/// Nanoseconds per acked `ping`, over `MESSAGES` sent one after the other.
async fn per_message(module: &WebSocketModule) -> f64 {
    let mut socket =
        testing::connect::<BenchGateway>(module, testing::identity("bench-1")).await.expect("the socket opens");
    let started = Instant::now();
    for n in 0..MESSAGES {
        let answer = socket.request("ping", n).await.expect("an ack");
        assert_eq!(answer.data, serde_json::json!(n));
    }
    let elapsed = started.elapsed();
    socket.close().await;
    elapsed.as_nanos() as f64 / MESSAGES as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // One thread: a round trip is then the work of dispatch, not of waking another thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let modules: Vec<(Variant, WebSocketModule)> = Variant::ALL.into_iter().map(|v| (v, v.module())).collect();
        // Warm-up: allocator, JSON, channels.
        for (_, module) in &modules {
            per_message(module).await;
        }
        let mut samples = vec![Vec::new(); modules.len()];
        for round in 0..ROUNDS {
            // A different variant first in each round, so none always runs on a cold or warm machine.
            for offset in 0..modules.len() {
                let index = (round + offset) % modules.len();
                samples[index].push(per_message(&modules[index].1).await);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let none = median(&mut samples[0].clone());
        println!("| variant | ns per acked message (median of {ROUNDS}) | against none |");
        println!("|---|---:|---:|");
        for ((variant, _), values) in modules.iter().zip(&mut samples) {
            let ns = median(values);
            println!("| {} | {ns:.0} | {:.3}x |", variant.name(), ns / none);
        }
    });
}
