//! Presence micro-benchmarks: register, unregister and lookups, in memory and through Redis.
//!
//! ```text
//! cargo bench -p venta-ws-bench --bench presence
//! ```
//!
//! Each store already holds `POPULATION` sockets of as many entities (Redis: `REDIS_POPULATION`),
//! so the maps are the size of a busy node's. Redis is at `VENTA_TEST_REDIS_URL` or
//! `redis://127.0.0.1:6379`; when none answers, the Redis group is skipped with a note. Its keys
//! live under a prefix of their own and are deleted at the end.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use venta_ws::SocketId;
use venta_ws::presence::{InMemoryPresence, PresenceEntry, PresenceMeta, PresenceStore};
use venta_ws::redis::{RedisBackend, RedisConfig};

const NAMESPACE: &str = "user";
const POPULATION: usize = 10_000;
const REDIS_POPULATION: usize = 1_000;

struct Socket {
    id: SocketId,
    entity: String,
    meta: PresenceMeta,
}

impl Socket {
    fn new(entity: String) -> Self {
        Self { id: SocketId::next(), entity, meta: PresenceMeta::new() }
    }

    fn entry(&self) -> PresenceEntry<'_> {
        PresenceEntry { namespace: NAMESPACE, socket_id: self.id, entity_id: &self.entity, meta: &self.meta }
    }
}

fn sockets(prefix: &str, count: u64) -> Vec<Socket> {
    (0..count).map(|index| Socket::new(format!("{prefix}-{index}"))).collect()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// Registers and unregisters fresh sockets on top of the resident ones, and looks resident
/// ones up; every timing covers a whole batch, so no clock is read per operation.
fn bench_store(c: &mut Criterion, group_name: &str, store: &dyn PresenceStore, rt: &Runtime, resident: &[Socket]) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    let register = |batch: &[Socket]| {
        rt.block_on(async {
            for socket in batch {
                store.register(socket.entry()).await.expect("register");
            }
        })
    };
    let unregister = |batch: &[Socket]| {
        rt.block_on(async {
            for socket in batch {
                store.unregister(socket.entry()).await.expect("unregister");
            }
        })
    };
    group.bench_function("register", |b| {
        b.iter_custom(|iters| {
            let batch = sockets("fresh", iters);
            let started = Instant::now();
            register(&batch);
            let elapsed = started.elapsed();
            unregister(&batch);
            elapsed
        })
    });
    group.bench_function("unregister", |b| {
        b.iter_custom(|iters| {
            let batch = sockets("fresh", iters);
            register(&batch);
            let started = Instant::now();
            unregister(&batch);
            started.elapsed()
        })
    });
    group.bench_function("register + unregister (one connect)", |b| {
        b.iter_custom(|iters| {
            let batch = sockets("fresh", iters);
            let started = Instant::now();
            rt.block_on(async {
                for socket in &batch {
                    store.register(socket.entry()).await.expect("register");
                    store.unregister(socket.entry()).await.expect("unregister");
                }
            });
            started.elapsed()
        })
    });
    let mut next = 0;
    let mut pick = || {
        // A stride prime to the population visits every resident socket in a scattered order.
        next = (next + 7919) % resident.len();
        &resident[next]
    };
    group.bench_function(BenchmarkId::new("lookup", "entity_of"), |b| {
        b.iter(|| rt.block_on(store.entity_of(NAMESPACE, pick().id)).expect("entity_of"))
    });
    group.bench_function(BenchmarkId::new("lookup", "sockets_of"), |b| {
        b.iter(|| rt.block_on(store.sockets_of(NAMESPACE, &pick().entity)).expect("sockets_of"))
    });
    group.finish();
}

fn in_memory(c: &mut Criterion) {
    let rt = runtime();
    let store = InMemoryPresence::default();
    let resident = sockets("resident", POPULATION as u64);
    rt.block_on(async {
        for socket in &resident {
            store.register(socket.entry()).await.expect("register");
        }
    });
    bench_store(c, "presence/in-memory", &store, &rt, &resident);
}

fn redis_url() -> String {
    std::env::var("VENTA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Whether Redis answers a PING at `url` within a second.
async fn redis_answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else { return false };
    let ping = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), ping).await, Ok(Ok(_)))
}

async fn delete_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut connection).await?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query_async::<()>(&mut connection).await?;
    }
    Ok(())
}

fn through_redis(c: &mut Criterion) {
    let rt = runtime();
    let url = redis_url();
    if !rt.block_on(redis_answers(&url)) {
        println!("presence/redis: skipped, no Redis answers at {url} (set VENTA_TEST_REDIS_URL)");
        return;
    }
    let prefix = format!("venta-bench-{}", std::process::id());
    let store = rt
        .block_on(RedisBackend::connect(RedisConfig::new(&url).prefix(&prefix)))
        .expect("Redis answered a PING but the backend could not connect");
    let resident = sockets("resident", REDIS_POPULATION as u64);
    rt.block_on(async {
        for socket in &resident {
            store.register(socket.entry()).await.expect("register");
        }
    });
    bench_store(c, "presence/redis", &store, &rt, &resident);
    drop(store);
    if let Err(error) = rt.block_on(delete_keys(&url, &prefix)) {
        println!("presence/redis: could not delete the keys under {prefix}: {error}");
    }
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = in_memory, through_redis
}
criterion_main!(benches);
