//! Three front-ends on one PostgreSQL log under 32 signing clients spread
//! over all of them, the leader killed with `kill -9` at random moments
//! (5 rounds, seed printed; `FAILOVER_SEED=N` repeats a run): another takes
//! over within seconds, every acknowledged entry is at its seq, no message
//! is in the log twice, the chain verifies, every front-end reaches the same
//! state root, and `coordinator audit` agrees.

#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bounties::{Action, Amount, Hash32, Message, SecretKey};
use bounties_client::{Client, ClientError};
use coordinator::store::postgres::scratch::ScratchDatabase;
use support::binary::{coordinator, next, seed, serve_logging_to, whole_log};

const FRONT_ENDS: usize = 3;
const CLIENTS: usize = 32;
const ROUNDS: usize = 5;
/// How soon after the leader dies another must lead.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(5);

/// A front-end's `/healthz`, or `None` when it does not answer.
fn health(url: &str) -> Option<bounties_api::Health> {
    Client::new(url).get("/healthz").ok()
}

/// The index of the front-end that leads, waiting up to `within`.
fn leader(urls: &[String], within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        let leading = urls
            .iter()
            .position(|u| health(u).is_some_and(|h| h.role == "leader"));
        if leading.is_some() || Instant::now() >= deadline {
            return leading;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What one client saw acknowledged: (seq, entry hash).
type Acked = Arc<Mutex<Vec<(u64, Hash32)>>>;

/// A client: transfers of 1, each signed once and sent until it is settled
/// (acknowledged, or found applied), to the front-ends in turn.
fn client(
    key: SecretKey,
    to: bounties::AccountId,
    chain_id: String,
    urls: Arc<Mutex<Vec<String>>>,
    start: usize,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let mut turn = start;
    let mut nonce = 1;
    while !stop.load(Ordering::Relaxed) {
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
        let mut uncertain = false;
        loop {
            let url = {
                let urls = urls.lock().unwrap();
                urls[turn % urls.len()].clone()
            };
            match Client::new(&url).send(&signed) {
                Ok(a) => {
                    acked.lock().unwrap().push((a.seq, a.hash));
                    break;
                }
                // An earlier try was applied though its answer was lost.
                Err(ClientError::Api { code, .. }) if code == "bad_nonce" && uncertain => break,
                // The front-end died, or the writer changed under the write:
                // the same bytes again, elsewhere (a nonce applies once).
                Err(ClientError::Transport { .. }) => {}
                Err(ClientError::Api { status: 503, .. }) => {}
                Err(e) => panic!("client {}: nonce {nonce} via {url}: {e}", key.account()),
            }
            uncertain = true;
            turn += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        nonce += 1;
        turn += 1;
    }
}

#[test]
fn three_front_ends_survive_kill_9_of_their_leader_and_agree() {
    let seed = seed("FAILOVER_SEED");
    println!("failover seed {seed} (rerun with FAILOVER_SEED={seed})");
    let mut rng = seed;
    let db = ScratchDatabase::create().unwrap();
    let store = ["--store", db.url()];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--dev"];
    args.extend(names.iter().map(String::as_str));
    args.extend(store);
    coordinator(&args);
    let keys: Vec<SecretKey> = names
        .iter()
        .map(|n| {
            coordinator::datadir::DataDir::read_key(&data.join("keys/dev").join(format!("{n}.key")))
                .unwrap()
        })
        .collect();

    let mut children = FrontEnds {
        children: Vec::new(),
        logs: Vec::new(),
    };
    let mut started = Vec::new();
    for _ in 0..FRONT_ENDS {
        let (child, url) = children.serve(&data, &store);
        children.children.push(child);
        started.push(url);
    }
    assert!(leader(&started, TAKEOVER_WITHIN).is_some(), "nobody leads");
    let urls = Arc::new(Mutex::new(started));
    let chain_id = Client::new(&urls.lock().unwrap()[0])
        .info()
        .unwrap()
        .chain_id;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (key, to) = (keys[i].clone(), keys[(i + 1) % CLIENTS].account());
            let (chain_id, urls, acked, stop) = (
                chain_id.clone(),
                Arc::clone(&urls),
                Arc::clone(&acked),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || client(key, to, chain_id, urls, i, acked, stop))
        })
        .collect();

    for round in 0..ROUNDS {
        let delay = 300 + next(&mut rng) % 1200;
        std::thread::sleep(Duration::from_millis(delay));
        let current: Vec<String> = urls.lock().unwrap().clone();
        let old = leader(&current, TAKEOVER_WITHIN).expect("a leader");
        let before = acked.lock().unwrap().len();
        children.children[old].kill().unwrap(); // SIGKILL
        children.children[old].wait().unwrap();
        let killed_at = Instant::now();
        let others: Vec<String> = current
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != old)
            .map(|(_, u)| u.clone())
            .collect();
        let new = leader(&others, TAKEOVER_WITHIN);
        let took = killed_at.elapsed();
        assert!(
            new.is_some(),
            "round {round}: nobody took over within {TAKEOVER_WITHIN:?}"
        );
        // The killed front-end comes back, as a follower, on a new port.
        let (child, url) = children.serve(&data, &store);
        children.children[old] = child;
        urls.lock().unwrap()[old] = url;
        println!(
            "round {round}: leader {old} killed after {delay} ms ({before} acknowledged so far); \
             another led after {} ms",
            took.as_millis()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    // Every front-end reaches the same head and state root.
    let urls = urls.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let heads = loop {
        let heads: Vec<_> = urls
            .iter()
            .map(|u| {
                let info = Client::new(u).info().unwrap();
                (info.head.seq, info.state_root)
            })
            .collect();
        if heads.windows(2).all(|w| w[0] == w[1]) || Instant::now() >= deadline {
            break heads;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        heads.windows(2).all(|w| w[0] == w[1]),
        "the front-ends disagree: {heads:?}"
    );
    let (head, root) = heads[0];

    let log = whole_log(&Client::new(&urls[0]));
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "only {} acknowledged", acked.len());
    for (seq, hash) in &acked {
        let entry = log
            .get(*seq as usize)
            .unwrap_or_else(|| panic!("acknowledged seq {seq} is missing (head {head})"));
        assert_eq!(entry.hash(), *hash, "seq {seq} holds another entry");
    }
    let distinct: BTreeSet<(Hash32, u64)> = acked.iter().map(|&(s, h)| (h, s)).collect();
    assert_eq!(
        distinct.len(),
        acked.len(),
        "an acknowledgement was repeated"
    );
    let mut messages = BTreeSet::new();
    for entry in &log[1..] {
        assert!(
            messages.insert(entry.message.clone()),
            "seq {} repeats a message",
            entry.seq
        );
    }
    bounties::log::verify_chain(&log).unwrap();
    let audit = coordinator(&[
        "audit",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
        "--store",
        db.url(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["state_root"].as_str().unwrap(), root.to_hex());
    assert_eq!(report["head_seq"].as_u64().unwrap(), head);
    println!(
        "{} acknowledged over {ROUNDS} takeovers; head {head}; all {FRONT_ENDS} front-ends and the audit agree",
        acked.len()
    );
}

/// The front-end processes, killed when the test ends, failed or not; a
/// failed test prints the end of each one's log.
struct FrontEnds {
    children: Vec<Child>,
    logs: Vec<tempfile::NamedTempFile>,
}

impl FrontEnds {
    /// Start a front-end logging to a file of its own.
    fn serve(&mut self, data: &Path, store: &[&str]) -> (Child, String) {
        let log = tempfile::NamedTempFile::new().unwrap();
        let stderr = Stdio::from(log.reopen().unwrap());
        self.logs.push(log);
        serve_logging_to(data, store, stderr)
    }
}

impl Drop for FrontEnds {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            for (i, log) in self.logs.iter().enumerate() {
                let text = std::fs::read_to_string(log.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- the front-end process number {i}: the end of its log");
                for line in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{line}");
                }
            }
        }
    }
}
