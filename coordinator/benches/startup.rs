//! Start-up time for a long log: recovery from the state image at the last
//! snapshot (the image loaded and checked, then the tail replayed with every
//! signature verified) beside a whole replay of the same SQLite log
//! (signatures trusted up to the snapshot), for a log of N signed transfers
//! among 1 000 accounts, with the snapshot 10 000 entries before the head.
//!
//! Run: `cargo bench -p coordinator --bench startup` (N = 1 000 000; set
//! `STARTUP_ENTRIES` for another size). Building the log takes a while.

#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bounties::chain::{Chain, Wallet};
use bounties::{AccountId, Action, Amount, Genesis, Params, SecretKey, TimestampMs};
use coordinator::sequencer::recover;
use coordinator::store::sqlite::SqliteLog;
use coordinator::store::{LogStore, Snapshot};

const ACCOUNTS: usize = 1_000;
const TAIL: u64 = 10_000;

fn main() {
    let n: u64 = std::env::var("STARTUP_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SqliteLog::open(&dir.path().join("log.sqlite")).expect("the log");

    let operator = SecretKey::from_seed([1; 32]);
    let keys: Vec<SecretKey> = (0..ACCOUNTS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 2).to_le_bytes());
            SecretKey::from_seed(seed)
        })
        .collect();
    let mut balances: Vec<(AccountId, Amount)> = keys
        .iter()
        .map(|k| (k.account(), Amount(1 << 40)))
        .collect();
    balances.sort_by_key(|(a, _)| *a);
    let genesis = Genesis {
        chain_id: "startup".into(),
        params: Params::default(),
        minter: operator.account(),
        operator: operator.account(),
        balances,
    };
    let built = Instant::now();
    let mut chain = Chain::new(&genesis, &operator, TimestampMs(1)).expect("genesis");
    let mut wallets: Vec<Wallet> = keys
        .iter()
        .map(|k| Wallet::new(k.clone(), "startup", 0))
        .collect();
    let mut written = 0usize;
    let mut snapshot = None;
    for i in 1..n {
        let from = (i as usize) % ACCOUNTS;
        let to = keys[(from + 1) % ACCOUNTS].account();
        let signed = wallets[from].sign(Action::Transfer {
            to,
            amount: Amount(1),
        });
        chain
            .append(signed, TimestampMs(1 + i))
            .expect("a transfer");
        if chain.entries().len() - written >= 8192 || i + 1 == n {
            store
                .append(&chain.entries()[written..])
                .expect("appending");
            written = chain.entries().len();
        }
        if i == n.saturating_sub(TAIL) {
            let state = chain.state();
            snapshot = Some((
                Snapshot {
                    seq: state.head().seq,
                    hash: state.head().hash,
                    state_root: state.root(),
                },
                state.to_image(),
            ));
        }
    }
    let head = chain.state().head().seq;
    let live_root = chain.state().root();
    drop(chain);
    println!(
        "built a log of {} entries in {:.1} s",
        head + 1,
        built.elapsed().as_secs_f64()
    );
    let (snapshot, image) = snapshot.expect("the log is longer than its tail");

    // Whole replay: no usable image (an empty one does not decode).
    store.put_snapshot(snapshot, b"").expect("a snapshot");
    let started = Instant::now();
    let replayed = recover(&store).expect("a whole replay");
    let whole = started.elapsed().as_secs_f64();
    assert_eq!(replayed.root(), live_root);
    drop(replayed);

    store.put_snapshot(snapshot, &image).expect("a snapshot");
    let started = Instant::now();
    let loaded = recover(&store).expect("recovery from the image");
    let from_image = started.elapsed().as_secs_f64();
    assert_eq!(loaded.root(), live_root);

    println!(
        "state image at seq {}: {:.1} MB; tail {} entries",
        snapshot.seq,
        image.len() as f64 / 1e6,
        head - snapshot.seq
    );
    println!("start-up, whole replay (signatures trusted to the snapshot): {whole:.2} s");
    println!("start-up, image + tail (tail signatures verified):           {from_image:.2} s");
    println!("ratio: {:.1}x faster from the image", whole / from_image);
}
