//! Apply and replay throughput on one core, with strict signature checks and without.
//!
//! Builds a realistic 100 000-entry log (bounties opened, submissions,
//! receipts with 100 per-example scores, closes, licence sales, and many
//! transfers between 1 000 accounts), then replays it from genesis.
//! Run: `cargo bench -p bounties --bench apply`. Prints entries/s.

// A bench is a shell: it reads the clock to time the pure core.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bounties::chain::{Chain, Wallet};
use bounties::encoding::{example_scores_digest, sha256};
use bounties::replay::replay;
use bounties::spec::*;
use bounties::*;

const ENTRIES: usize = 100_000;
const ACCOUNTS: usize = 1_000;

fn key(i: usize) -> SecretKey {
    SecretKey::from_seed(sha256(format!("bench-{i}").as_bytes()).0)
}

fn spec(deadline_ms: u64, n: usize) -> BountySpec {
    BountySpec {
        title: format!("bench bounty {n}"),
        description: String::new(),
        task: Task::Classification,
        train_dataset: sha256(b"train"),
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
        reward: Amount(1_000_000),
        evaluation_budget: Amount(10_000),
        fee_per_receipt: Amount(10),
        submission_deposit: Amount(20),
        quorum: 2,
        max_submissions_per_miner: 3,
        deadline_ms: TimestampMs(deadline_ms),
        payout: PayoutRule::Improvement,
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

fn build_log() -> Vec<Entry> {
    let mut balances: Vec<(AccountId, Amount)> = (0..ACCOUNTS)
        .map(|i| (key(i).account(), Amount(1_000_000_000_000)))
        .collect();
    balances.sort();
    let operator = SecretKey::from_seed([1; 32]);
    let genesis = Genesis {
        chain_id: "bench".into(),
        params: Params::default(),
        minter: SecretKey::from_seed([2; 32]).account(),
        operator: operator.account(),
        balances,
    };
    let mut now = 1_700_000_000_000u64;
    let mut chain = Chain::new(&genesis, &operator, TimestampMs(now)).unwrap();
    let mut coordinator = Wallet::new(operator.clone(), "bench", 0);
    let mut wallets: Vec<Wallet> = (0..ACCOUNTS)
        .map(|i| Wallet::new(key(i), "bench", 0))
        .collect();
    let send = |chain: &mut Chain, w: &mut Wallet, action: Action, now: u64| {
        chain
            .append(w.sign(action), TimestampMs(now))
            .map(|e| e.seq)
            .unwrap()
    };
    // Evaluators 0..3.
    for w in wallets.iter_mut().take(3) {
        now += 1;
        send(
            &mut chain,
            w,
            Action::RegisterEvaluator {
                bond: Amount(1_000_000),
            },
            now,
        );
    }
    let mut cycle = 0usize;
    while chain.entries().len() < ENTRIES {
        cycle += 1;
        let sponsor = 10 + cycle % 50;
        now += 1;
        let deadline = now + 1_000;
        let bounty = BountyId(send(
            &mut chain,
            &mut wallets[sponsor],
            Action::OpenBounty {
                spec: Box::new(spec(deadline, cycle)),
            },
            now,
        ));
        let mut subs = Vec::new();
        for m in 0..20 {
            let miner = 100 + (cycle * 20 + m) % 800;
            let w = sha256(format!("w-{cycle}-{m}").as_bytes());
            now += 1;
            let action = Action::Submit {
                bounty,
                file_hash: sha256(format!("f-{cycle}-{m}").as_bytes()),
                weights_hash: w,
                parent_weights_hash: None,
            };
            subs.push((
                SubmissionId(send(&mut chain, &mut wallets[miner], action, now)),
                m,
            ));
        }
        now = now.max(deadline);
        send(
            &mut chain,
            &mut coordinator,
            Action::EndSubmissions { bounty },
            now,
        );
        for &(sid, m) in &subs {
            let examples: Vec<i64> = (0..100)
                .map(|i| {
                    if i < 30 + m as i64 * 3 {
                        Score::SCALE
                    } else {
                        0
                    }
                })
                .collect();
            let sub = chain.state().submission(sid).unwrap().clone();
            let receipt = Receipt {
                submission: sid,
                dataset: chain.state().bounty(bounty).unwrap().spec.hidden_dataset,
                evaluator_build: sha256(b"build"),
                verdict: message::Verdict::Scored {
                    weights_hash: sub.weights_hash,
                    score: Score(examples.iter().sum::<i64>() / 100),
                    example_digest: example_scores_digest(&examples),
                    example_scores: examples,
                },
            };
            for account in &sub.panel {
                let e = wallets
                    .iter()
                    .position(|w| w.account() == *account)
                    .unwrap();
                now += 1;
                send(
                    &mut chain,
                    &mut wallets[e],
                    Action::PostReceipt(receipt.clone()),
                    now,
                );
            }
        }
        for t in 0..135 {
            let (from, to) = (
                (cycle * 7 + t * 13) % ACCOUNTS,
                (cycle * 11 + t * 17 + 1) % ACCOUNTS,
            );
            now += 1;
            let action = Action::Transfer {
                to: key(to).account(),
                amount: Amount(1 + t as u128),
            };
            send(&mut chain, &mut wallets[from], action, now);
        }
        now += Params::default().dispute_window_ms;
        send(
            &mut chain,
            &mut wallets[5],
            Action::CloseBounty { bounty },
            now,
        );
        let winner = chain
            .state()
            .bounty(bounty)
            .unwrap()
            .settlement
            .as_ref()
            .unwrap()
            .winner
            .unwrap();
        now += 1;
        send(
            &mut chain,
            &mut wallets[6],
            Action::BuyLicense { model: winner },
            now,
        );
    }
    let mut entries = chain.entries().to_vec();
    entries.truncate(ENTRIES);
    entries
}

fn main() {
    let built = Instant::now();
    let log = build_log();
    println!(
        "built a {}-entry log in {:.1} s",
        log.len(),
        built.elapsed().as_secs_f64()
    );
    for (label, verify) in [
        ("strict signature verification", Verify::Signatures),
        ("no signature verification", Verify::Skip),
    ] {
        let mut best = f64::MAX;
        let mut root = Hash32::ZERO;
        for _ in 0..3 {
            let t = Instant::now();
            let state = replay(&log, verify, |_, _| {}).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            root = state.root();
        }
        println!(
            "replay {} entries, {label}: {:.3} s = {:.0} entries/s (best of 3, root {})",
            log.len(),
            best,
            log.len() as f64 / best,
            root.short()
        );
    }
    let state = replay(&log, Verify::Skip, |_, _| {}).unwrap();
    let t = Instant::now();
    let root = state.root();
    println!(
        "state root of the final state: {:.1} ms ({})",
        t.elapsed().as_secs_f64() * 1e3,
        root.short()
    );
}
