//! Load generator (loopback only, bounded in count and time): durable signed
//! appends per second with 1 and 64 concurrent clients, with p50/p99
//! acknowledgement latency, beside a plain SQLite insert loop with the same
//! durability (WAL, synchronous=FULL, one commit per insert) as the ceiling;
//! then artifact upload MB/s beside SHA-256 of the same bytes in memory.
//!
//! Run: `cargo bench -p coordinator --bench load`.

#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bounties_client::Client;
use coordinator::artifacts::LocalArtifacts;
use coordinator::clock::SystemClock;

use coordinator::node::{Config, Node};
use coordinator::staging::Staging;
use coordinator::store::LogLocation;
use coordinator::store::sqlite::SqliteLog;
use coordinator::{routes, server};

mod common;

use common::{PHASE_SECS, appends, chain};

const CLIENTS_MAX: usize = 64;

fn sqlite_ceiling(dir: &std::path::Path) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("ceiling.sqlite")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, hash BLOB, bytes BLOB)")
        .unwrap();
    let bytes = vec![7u8; 220];
    let started = Instant::now();
    let mut n = 0u64;
    while n < 20_000 && started.elapsed() < Duration::from_secs(PHASE_SECS) {
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            rusqlite::params![n as i64, &[1u8; 32][..], &bytes],
        )
        .unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // One account for the single client, 64 more for the concurrent phase.
    let (dir, data, keys) = chain(&LogLocation::DataDir, CLIENTS_MAX + 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = Node::start(
        Arc::new(SqliteLog::open(&data.log()).unwrap()),
        Arc::new(LocalArtifacts::open(&data.artifacts()).unwrap()),
        Staging::open(&data.tmp()).unwrap(),
        Arc::new(SystemClock),
        None,
        Config {
            max_artifact_bytes: 1 << 30,
            ..Config::default()
        },
    )
    .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(server::serve(
        listener,
        routes::router(node),
        Duration::from_secs(10),
        usize::MAX,
        std::future::pending(),
    ));

    println!(
        "threads available: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<46} {:>12} {:>10} {:>10}",
        "durable appends (signed transfers over HTTP)", "appends/s", "p50", "p99"
    );
    let urls = [url.clone()];
    let one = appends(&urls, "bench", &keys[..1], 1);
    let (rate1, p50, p99, n1) = (one.rate, one.p50, one.p99, one.n);
    println!(
        "{:<46} {rate1:>12.0} {:>10.2?} {:>10.2?}",
        format!("1 client ({n1} appends)"),
        p50,
        p99
    );
    let many = appends(&urls, "bench", &keys[1..], CLIENTS_MAX);
    let (rate64, p50, p99, n64) = (many.rate, many.p50, many.p99, many.n);
    println!(
        "{:<46} {rate64:>12.0} {:>10.2?} {:>10.2?}",
        format!("64 clients ({n64} appends)"),
        p50,
        p99
    );
    let ceiling = sqlite_ceiling(dir.path());
    println!(
        "{:<46} {ceiling:>12.0}",
        "plain SQLite insert loop, same durability"
    );
    println!("64 clients / ceiling: {:.2}x", rate64 / ceiling);

    // Uploads: a 256 MiB model through the API vs SHA-256 of the same bytes in memory.
    let n = 8192u64;
    let json = format!(
        r#"{{"__metadata__":{{"Architecture":"mlp:{n},{n}"}},"layers.0.bias":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{b}]}},"layers.0.weight":{{"dtype":"F32","shape":[{n},{n}],"data_offsets":[{b},{e}]}}}}"#,
        b = n * 4,
        e = n * 4 + n * n * 4
    );
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(json.as_bytes());
    file.resize(file.len() + (n * 4 + n * n * 4) as usize, 0);
    for (i, b) in file.iter_mut().enumerate().skip(8 + json.len()) {
        *b = (i % 251) as u8;
    }
    let t = Instant::now();
    let hash = bounties::encoding::sha256(&file);
    let sha_mbs = file.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
    let path = dir.path().join("big.safetensors");
    std::fs::write(&path, &file).unwrap();
    let client = Client::new(&url);
    let t = Instant::now();
    // The hash is known (the client computes it before uploading): time the PUT.
    let got = client.upload_as(&keys[1], "bench", &path, hash).unwrap();
    let up_mbs = file.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
    assert_eq!(got.hash, hash);
    println!("{:<46} {:>12}", "upload of a 256 MiB model", "MB/s");
    println!(
        "{:<46} {up_mbs:>12.0}",
        "PUT /v1/artifacts (stream, hash, fsync, rename)"
    );
    println!(
        "{:<46} {sha_mbs:>12.0}",
        "SHA-256 of the same bytes in memory"
    );
    println!("upload / SHA-256: {:.2}x", up_mbs / sha_mbs);
}
