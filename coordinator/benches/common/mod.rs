//! What the load benchmarks share: signed-transfer clients with latency
//! percentiles, and CPU meters for this process and the whole machine.

#![allow(dead_code, clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bounties::{Action, Amount, Message, SecretKey};
use bounties_client::Client;

/// The most appends one client makes in a phase.
pub const PER_CLIENT_MAX: u64 = 2_000;
/// A phase's length.
pub const PHASE_SECS: u64 = 8;

/// What a phase of appends measured.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// Acknowledged appends per second.
    pub rate: f64,
    /// Median acknowledgement latency.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Appends acknowledged.
    pub n: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `clients` threads, each signing transfers of 1 with its key in `keys`
/// (one per client) and sending them one at a time, client `i` to
/// `urls[i % urls.len()]`, for [`PHASE_SECS`] or [`PER_CLIENT_MAX`] each.
pub fn appends(urls: &[String], chain_id: &str, keys: &[SecretKey], clients: usize) -> Phase {
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(PHASE_SECS);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let key = keys[i].clone();
            let to = keys[(i + 1) % keys.len()].account();
            let (url, chain_id, latencies) = (
                urls[i % urls.len()].clone(),
                chain_id.to_owned(),
                Arc::clone(&latencies),
            );
            std::thread::spawn(move || {
                let client = Client::new(&url);
                let mut mine = Vec::new();
                for nonce in 1..=PER_CLIENT_MAX {
                    if Instant::now() > deadline {
                        break;
                    }
                    let signed = Message {
                        chain_id: chain_id.clone(),
                        signer: key.account(),
                        nonce,
                        action: Action::Transfer {
                            to,
                            amount: Amount(1),
                        },
                    }
                    .sign(&key);
                    let t = Instant::now();
                    client.send(&signed).expect("append");
                    mine.push(t.elapsed());
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    Phase {
        rate: l.len() as f64 / elapsed,
        p50: percentile(&l, 0.5),
        p99: percentile(&l, 0.99),
        n: l.len() as u64,
    }
}

use bounties::Params;
use coordinator::clock::{Clock, SystemClock};
use coordinator::datadir::{self, DataDir};
use coordinator::store::LogLocation;

/// A fresh chain at `location` with `accounts` funded accounts: its data dir and their keys.
pub fn chain(
    location: &LogLocation,
    accounts: usize,
) -> (tempfile::TempDir, DataDir, Vec<SecretKey>) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir(dir.path().join("data"));
    let names: Vec<String> = (0..accounts).map(|i| format!("c{i}")).collect();
    let init = datadir::init(
        &data,
        location,
        "bench",
        Params::default(),
        &names,
        Amount(1_000_000_000),
        SystemClock.now_ms(),
    )
    .unwrap();
    let keys = init
        .dev
        .iter()
        .map(|(_, _, p)| DataDir::read_key(p).unwrap())
        .collect();
    (dir, data, keys)
}

/// CPU time used, in seconds: this process's (user + system) and the whole
/// machine's busy time (all cores), read from /proc.
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    /// This process.
    pub process: f64,
    /// Every process, the database server included.
    pub machine: f64,
}

impl Cpu {
    /// Now.
    pub fn now() -> Cpu {
        let tick = 100.0; // USER_HZ on Linux
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<f64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        let process = (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / tick;
        let all = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<f64> = all
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        let busy: f64 = cpu
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 3 && i != 4 && i < 8)
            .map(|(_, v)| v)
            .sum();
        Cpu {
            process,
            machine: busy / tick,
        }
    }

    /// The CPU time used since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process - earlier.process,
            machine: self.machine - earlier.machine,
        }
    }
}
