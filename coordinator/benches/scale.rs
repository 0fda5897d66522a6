//! Scale-out, side by side in one run on this machine: durable signed
//! appends/s and p50/p99 with 64 clients through one front-end on SQLite,
//! through one and through three front-ends on one PostgreSQL database
//! (followers pass writes to the leader and answer once they serve the
//! entry), and `pgbench` committing the same rows in batches of the size the
//! three front-ends' leader committed, with the same durability, from one
//! connection as the sequencer does: the ceiling. CPU seconds per append (this
//! process; the whole machine, PostgreSQL included) say what limits each.
//!
//! Run: `cargo bench -p coordinator --bench scale` (needs PostgreSQL as the
//! tests do: `MB_TEST_POSTGRES_URL`, default the local server; `pgbench` on
//! the PATH for the ceiling).

#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bounties::{Amount, Entry, TimestampMs};
use common::{Cpu, PHASE_SECS, Phase, appends, chain};
use coordinator::artifacts::LocalArtifacts;
use coordinator::clock::SystemClock;
use coordinator::node::{Config, Node, Parts};
use coordinator::staging::Staging;
use coordinator::store::postgres::PostgresLog;
use coordinator::store::postgres::scratch::ScratchDatabase;
use coordinator::store::sqlite::SqliteLog;
use coordinator::store::{LogLocation, LogStore};
use coordinator::{cluster, routes, server};

const CLIENTS: usize = 64;

/// Serve `node` on a port of its own.
fn listen(runtime: &tokio::runtime::Runtime) -> (tokio::net::TcpListener, String) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn serve(runtime: &tokio::runtime::Runtime, listener: tokio::net::TcpListener, node: Arc<Node>) {
    runtime.spawn(server::serve(
        listener,
        routes::router(node),
        Duration::from_secs(10),
        usize::MAX,
        std::future::pending(),
    ));
}

fn row(label: &str, phase: Phase, cpu: Cpu) {
    let n = phase.n.max(1) as f64;
    println!(
        "{label:<44} {:>9.0} {:>9.2?} {:>9.2?} {:>9.0} {:>9.0}",
        phase.rate,
        phase.p50,
        phase.p99,
        cpu.process / n * 1e6,
        cpu.machine / n * 1e6
    );
}

fn sqlite_phase(runtime: &tokio::runtime::Runtime) -> (Phase, Cpu) {
    let (_dir, data, keys) = chain(&LogLocation::DataDir, CLIENTS);
    let node = Node::start(
        Arc::new(SqliteLog::open(&data.log()).unwrap()),
        Arc::new(LocalArtifacts::open(&data.artifacts()).unwrap()),
        Staging::open(&data.tmp()).unwrap(),
        Arc::new(SystemClock),
        None,
        Config::default(),
    )
    .unwrap();
    let (listener, url) = listen(runtime);
    serve(runtime, listener, node);
    let before = Cpu::now();
    let phase = appends(&[url], "bench", &keys, CLIENTS);
    (phase, Cpu::now().since(before))
}

/// `front_ends` front-ends on a fresh database; also the leader's mean batch.
fn postgres_phase(runtime: &tokio::runtime::Runtime, front_ends: usize) -> (Phase, Cpu, f64) {
    let db = ScratchDatabase::create().unwrap();
    let (_dir, data, keys) = chain(&LogLocation::Postgres(db.url().to_owned()), CLIENTS);
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for k in 0..front_ends {
        let log = Arc::new(PostgresLog::open(db.url()).unwrap());
        let parts = Parts::alone(
            Arc::clone(&log) as Arc<dyn LogStore>,
            Arc::new(LocalArtifacts::open(&data.artifacts()).unwrap()),
            Staging::open(&data.tmp().join(k.to_string())).unwrap(),
            Arc::new(SystemClock),
            None,
            Config::default(),
        );
        let (listener, url) = listen(runtime);
        let node = runtime
            .block_on(async { cluster::join(parts, log, url.clone()) })
            .unwrap();
        serve(runtime, listener, Arc::clone(&node));
        nodes.push(node);
        urls.push(url);
    }
    while !nodes.iter().any(|n| n.leads()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = Cpu::now();
    let phase = appends(&urls, "bench", &keys, CLIENTS);
    let cpu = Cpu::now().since(before);
    let leader = nodes.iter().find(|n| n.leads()).expect("a leader");
    let (entries, commits) = leader.metrics.commits();
    (phase, cpu, entries as f64 / commits.max(1) as f64)
}

/// pgbench committing `batch` rows of `row_bytes` per transaction from one
/// connection for a phase: rows/s, or why it could not run.
fn pgbench(batch: usize, row_bytes: usize) -> Result<f64, String> {
    let db = ScratchDatabase::create().map_err(|e| e.to_string())?;
    let setup = Command::new("psql")
        .args([db.url(), "-q", "-c"])
        .arg(
            "CREATE TABLE entries (seq BIGINT PRIMARY KEY, hash BYTEA NOT NULL, bytes BYTEA NOT NULL); \
             CREATE SEQUENCE seqs;",
        )
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !setup.status.success() {
        return Err(String::from_utf8_lossy(&setup.stderr).into_owned());
    }
    let script = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(
        script.path(),
        format!(
            "INSERT INTO entries (seq, hash, bytes) SELECT nextval('seqs'), \
             sha256(g::text::bytea), convert_to(repeat('x', {row_bytes}), 'UTF8') \
             FROM generate_series(1, {batch}) g;\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new("pgbench")
        .env("PGOPTIONS", "-c synchronous_commit=on")
        .args(["-n", "-c", "1", "-T", &PHASE_SECS.to_string(), "-f"])
        .arg(script.path())
        .arg(db.url())
        .output()
        .map_err(|e| format!("pgbench: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| {
            format!(
                "no tps in pgbench's output: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(tps * batch as f64)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "threads available: {}; {CLIENTS} clients, {PHASE_SECS} s a phase",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "durable signed appends", "/s", "p50", "p99", "µs CPU", "µs all"
    );
    let (sqlite, cpu) = sqlite_phase(&runtime);
    row("1 front-end, SQLite", sqlite, cpu);
    let (one, cpu, _) = postgres_phase(&runtime, 1);
    row("1 front-end, PostgreSQL", one, cpu);
    let (three, cpu, batch) = postgres_phase(&runtime, 3);
    row("3 front-ends, PostgreSQL", three, cpu);
    // A transfer's entry, as stored: the rows pgbench writes are this long.
    let key = bounties_client::random_key();
    let entry = Entry::next(
        0,
        bounties::Hash32([0; 32]),
        TimestampMs(0),
        bounties::Message {
            chain_id: "bench".into(),
            signer: key.account(),
            nonce: 1,
            action: bounties::Action::Transfer {
                to: key.account(),
                amount: Amount(1),
            },
        }
        .sign(&key),
    );
    let row_bytes = entry.encode().len();
    let batch_rows = batch.round().max(1.0) as usize;
    match pgbench(batch_rows, row_bytes) {
        Ok(rate) => {
            println!(
                "{:<44} {rate:>9.0}",
                format!("pgbench, {batch_rows} rows of {row_bytes} B a commit")
            );
            println!(
                "3 front-ends / pgbench ceiling: {:.2}x; 3 / 1 front-ends: {:.2}x",
                three.rate / rate,
                three.rate / one.rate
            );
        }
        Err(e) => println!("pgbench: not run ({e})"),
    }
}
