//! The cost of growth: how applying one entry, and the memory the state
//! holds per bounty and per submission, change as the ledger grows from
//! 10 000 to 1 000 000 entries (10 000 bounties, then 1 000 000 submissions
//! spread over them, from 100 miners). Entries are applied with signatures
//! skipped (they are the same cost at any size; the question is the state's).
//! Apply cost is timed over 10 000 submissions at each size; memory is the
//! process's resident set (the entries themselves are dropped once applied).
//!
//! Run: `cargo bench -p bounties --bench growth` (GROWTH_SUBMISSIONS for
//! another total). Target: flat within 2x from 10 000 to 1 000 000.

// A bench is a shell: it reads the clock and /proc to measure the pure core.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bounties::encoding::{self, sha256};
use bounties::spec::*;
use bounties::*;

const BOUNTIES: u64 = 10_000;
const MINERS: usize = 100;
const WINDOW: u64 = 10_000;

fn key(i: usize) -> SecretKey {
    SecretKey::from_seed(sha256(format!("growth-{i}").as_bytes()).0)
}

fn spec(n: u64) -> BountySpec {
    BountySpec {
        title: format!("growth bounty {n}"),
        description: String::new(),
        task: Task::Classification,
        train_dataset: sha256(format!("train-{n}").as_bytes()),
        hidden_dataset: sha256(format!("hidden-{n}").as_bytes()),
        hidden_examples: 100,
        architecture: ArchitectureLimits {
            family: arch::Family::Mlp,
            max_parameters: 1_000_000,
            adapters: None,
        },
        base_model: None,
        judging: Judging {
            metric: Metric::Accuracy,
            baseline: Score(100_000),
            min_improvement: Score(0),
            bootstrap: None,
        },
        reward: Amount(1_000),
        evaluation_budget: Amount(1_000),
        fee_per_receipt: Amount(1),
        submission_deposit: Amount(1),
        quorum: 1,
        max_submissions_per_miner: 3,
        deadline_ms: TimestampMs(u64::MAX / 2),
        payout: PayoutRule::WinnerTakeAll,
        licence: LicenceTerms {
            name: "UDL-1.0".into(),
            commercial_use: CommercialUse::AllowedWithFee,
            fee: Amount(5_000),
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 1_000 },
            duration_ms: None,
        },
        royalties: RoyaltyShares {
            contributors_bps: 7_000,
            sponsor_bps: 3_000,
        },
    }
}

/// The resident set of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Appends unsigned messages (signatures are skipped) to a state.
struct Ledger {
    state: State,
    nonces: Vec<u64>,
    keys: Vec<SecretKey>,
}

impl Ledger {
    fn apply(&mut self, who: usize, action: Action) {
        self.nonces[who] += 1;
        let message = Message {
            chain_id: "growth".into(),
            signer: self.keys[who].account(),
            nonce: self.nonces[who],
            action,
        };
        let head = self.state.head();
        let entry = Entry::next(
            head.seq,
            head.hash,
            TimestampMs(head.timestamp.0 + 1),
            SignedMessage {
                message: encoding::encode(&message),
                signature: Signature([0; 64]),
            },
        );
        if let Err(r) = self.state.apply(&entry, Verify::Skip) {
            panic!("entry {} refused: {r}", entry.seq);
        }
    }

    /// Submission number `i` (to bounty `i % BOUNTIES`, by miner `i / BOUNTIES`).
    fn submit(&mut self, i: u64) {
        let miner = 1 + (i / BOUNTIES) as usize % MINERS;
        self.apply(
            miner,
            Action::Submit {
                bounty: BountyId(1 + i % BOUNTIES),
                file_hash: sha256(format!("file-{i}").as_bytes()),
                weights_hash: sha256(format!("weights-{i}").as_bytes()),
                parent_weights_hash: None,
            },
        );
    }
}

fn main() {
    let submissions: u64 = std::env::var("GROWTH_SUBMISSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // Key 0 sponsors; keys 1..=MINERS mine.
    let keys: Vec<SecretKey> = (0..=MINERS).map(key).collect();
    let mut balances: Vec<(AccountId, Amount)> = keys
        .iter()
        .map(|k| (k.account(), Amount(1 << 60)))
        .collect();
    balances.sort();
    let operator = SecretKey::from_seed([1; 32]);
    let genesis = Genesis {
        chain_id: "growth".into(),
        params: Params::default(),
        minter: operator.account(),
        operator: operator.account(),
        balances,
    };
    let entry = Entry::genesis(&genesis, &operator, TimestampMs(1));
    let state = State::from_genesis(&entry, Verify::Skip).expect("genesis");
    let mut ledger = Ledger {
        state,
        nonces: vec![0; keys.len()],
        keys,
    };
    let base = rss();
    for n in 1..=BOUNTIES {
        ledger.apply(
            0,
            Action::OpenBounty {
                spec: Box::new(spec(n)),
            },
        );
    }
    let after_bounties = rss();
    println!(
        "{BOUNTIES} bounties: {:.0} bytes of state each (resident set {:.0} MB -> {:.0} MB)",
        (after_bounties - base) as f64 / BOUNTIES as f64,
        base as f64 / 1e6,
        after_bounties as f64 / 1e6
    );
    println!(
        "{:>12} {:>14} {:>22}",
        "entries", "apply µs/entry", "bytes per submission"
    );
    let mut done = 0u64;
    let mut marks: Vec<(u64, f64, f64)> = Vec::new();
    for target in [10_000u64, 100_000, 1_000_000]
        .into_iter()
        .filter(|&t| t <= submissions)
    {
        // Grow to the mark, then time a window of submissions there.
        while done + WINDOW < target {
            ledger.submit(done);
            done += 1;
        }
        let before = rss();
        let t = Instant::now();
        for _ in 0..WINDOW.min(target - done) {
            ledger.submit(done);
            done += 1;
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / WINDOW as f64;
        let per_submission = (rss().max(before) - after_bounties) as f64 / done as f64;
        let entries = ledger.state.head().seq + 1;
        println!("{entries:>12} {us:>14.2} {per_submission:>22.0}");
        marks.push((entries, us, per_submission));
    }
    if let (Some(first), Some(last)) = (marks.first(), marks.last()) {
        println!(
            "from {} to {} entries: apply cost {:.2}x, memory per submission {:.2}x",
            first.0,
            last.0,
            last.1 / first.1,
            last.2 / first.2
        );
    }
}
