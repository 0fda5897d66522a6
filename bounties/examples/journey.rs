//! The protocol's whole journey on an in-memory chain, printed step by step.
//!
//! A sponsor opens a bounty, three miners submit (each escrowing a deposit),
//! the deadline passes and submissions end, which draws two of the three
//! evaluators for each submission; where the drawn pair disagrees, the third
//! decides the dispute and the contradicted one forfeits part of its bond.
//! After the dispute window the close pays the reward by improvement. A second
//! bounty fine-tunes the winner; a business buys a licence for the new model
//! and the fee is split as royalties, with a share flowing up the lineage.
//! Finally an auditor replays the log, checking every signature, and gets the
//! same state root. No network, no disk: this is `bounties` alone.
//!
//! Run: `cargo run -p bounties --example journey`

use bounties::chain::{Chain, Wallet};
use bounties::encoding::{example_scores_digest, sha256};
use bounties::replay::replay;
use bounties::spec::*;
use bounties::*;

const CHAIN_ID: &str = "journey";
const T0: u64 = 1_767_225_600_000; // 2026-01-01
const EXAMPLES: usize = 1000;

struct World {
    chain: Chain,
    now: u64,
}

impl World {
    fn send(&mut self, who: &mut Wallet, name: &str, action: Action) -> u64 {
        let label = action.name();
        match self.chain.append(who.sign(action), TimestampMs(self.now)) {
            Ok(entry) => {
                let seq = entry.seq;
                println!("  #{seq:<3} {name:<10} {label}");
                seq
            }
            Err(e) => {
                who.unuse_nonce();
                println!("  ---  {name:<10} {label} rejected: {e}");
                0
            }
        }
    }

    fn balance(&self, w: &Wallet) -> Amount {
        self.chain.state().balance(&w.account())
    }
}

fn wallet(name: &str) -> Wallet {
    Wallet::new(SecretKey::from_seed(sha256(name.as_bytes()).0), CHAIN_ID, 0)
}

fn receipt(sid: SubmissionId, hidden: Hash32, weights: Hash32, right: usize) -> Receipt {
    let examples: Vec<i64> = (0..EXAMPLES)
        .map(|i| if i < right { Score::SCALE } else { 0 })
        .collect();
    Receipt {
        submission: sid,
        dataset: hidden,
        evaluator_build: sha256(b"evaluator 0.1.0"),
        verdict: message::Verdict::Scored {
            weights_hash: weights,
            score: Score(examples.iter().sum::<i64>() / EXAMPLES as i64),
            example_digest: example_scores_digest(&examples),
            example_scores: examples,
        },
    }
}

/// Each evaluator drawn for `sid` posts a receipt; the first drawn one
/// claims `right - wrong_by` (a disagreement, when `wrong_by > 0`), and any
/// dispute panel then posts the truth.
fn score(
    w: &mut World,
    evaluators: &mut [Wallet; 3],
    sid: SubmissionId,
    right: usize,
    wrong_by: usize,
) {
    let state = w.chain.state();
    let sub = state.submission(sid).expect("submitted").clone();
    let hidden = state
        .bounty(sub.bounty)
        .expect("bounty")
        .spec
        .hidden_dataset;
    let accounts: Vec<AccountId> = evaluators.iter().map(|e| e.account()).collect();
    let index = |a: &AccountId| accounts.iter().position(|e| e == a);
    for (n, account) in sub.panel.iter().enumerate() {
        let i = index(account).expect("a known evaluator");
        let claimed = if n == 0 { right - wrong_by } else { right };
        let name = format!("eval-{}", i + 1);
        let r = receipt(sid, hidden, sub.weights_hash, claimed);
        w.send(&mut evaluators[i], &name, Action::PostReceipt(r));
    }
    let jury = w
        .chain
        .state()
        .submission(sid)
        .and_then(|s| s.dispute.clone());
    if let Some(dispute) = jury {
        println!("   the panel disagrees: a dispute panel is drawn");
        for account in &dispute.panel {
            let i = index(account).expect("a known evaluator");
            let r = receipt(sid, hidden, sub.weights_hash, right);
            w.send(
                &mut evaluators[i],
                &format!("eval-{}", i + 1),
                Action::PostReceipt(r),
            );
        }
    }
}

fn spec(title: &str, deadline_ms: u64, base: Option<Hash32>, payout: PayoutRule) -> BountySpec {
    BountySpec {
        title: title.into(),
        description: String::new(),
        task: Task::Classification,
        train_dataset: sha256(format!("{title} train").as_bytes()),
        hidden_dataset: sha256(format!("{title} hidden").as_bytes()),
        hidden_examples: EXAMPLES as u32,
        architecture: ArchitectureLimits {
            family: arch::Family::Mlp,
            max_parameters: 100_000,
            adapters: None,
        },
        base_model: base,
        judging: Judging {
            metric: Metric::Accuracy,
            baseline: Score(900_000),
            min_improvement: Score(5_000),
            bootstrap: None,
        },
        reward: Amount(100_000),
        evaluation_budget: Amount(1_000),
        fee_per_receipt: Amount(50),
        submission_deposit: Amount(100),
        quorum: 2,
        max_submissions_per_miner: 2,
        deadline_ms: TimestampMs(deadline_ms),
        payout,
        licence: LicenceTerms {
            name: "UDL-1.0".into(),
            commercial_use: CommercialUse::AllowedWithFee,
            fee: Amount(20_000),
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 2_000 },
            duration_ms: Some(365 * 24 * 3600 * 1000),
        },
        royalties: RoyaltyShares {
            contributors_bps: 7_000,
            sponsor_bps: 3_000,
        },
    }
}

fn main() {
    let operator = SecretKey::from_seed(sha256(b"operator").0);
    let mut coordinator = Wallet::new(operator.clone(), CHAIN_ID, 0);
    let (mut sponsor, mut business) = (wallet("sponsor"), wallet("business"));
    let mut miners = [wallet("miner-ada"), wallet("miner-bo"), wallet("miner-cy")];
    let mut evaluators = [wallet("eval-1"), wallet("eval-2"), wallet("eval-3")];
    let mut balances = vec![
        (sponsor.account(), Amount(1_000_000)),
        (business.account(), Amount(100_000)),
    ];
    balances.extend(evaluators.iter().map(|e| (e.account(), Amount(10_000))));
    balances.extend(miners.iter().map(|m| (m.account(), Amount(1_000))));
    balances.sort();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        params: Params::default(),
        minter: SecretKey::from_seed(sha256(b"minter").0).account(),
        operator: operator.account(),
        balances,
    };
    let mut w = World {
        chain: Chain::new(&genesis, &operator, TimestampMs(T0)).expect("genesis"),
        now: T0,
    };
    println!(
        "genesis: chain {CHAIN_ID}, state root {}",
        w.chain.state().root().short()
    );

    println!("\n1. evaluators bond, the sponsor opens a bounty (improvement payout)");
    for (i, e) in evaluators.iter_mut().enumerate() {
        w.send(
            e,
            &format!("eval-{}", i + 1),
            Action::RegisterEvaluator {
                bond: Amount(5_000),
            },
        );
    }
    let deadline = T0 + 3_600_000;
    let digits = spec("digits", deadline, None, PayoutRule::Improvement);
    let b1 = BountyId(w.send(
        &mut sponsor,
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(digits),
        },
    ));

    println!("\n2. miners submit, each escrowing a deposit of 100");
    let scores = [(0, "ada-1", 930), (1, "bo-1", 932), (2, "cy-1", 960)];
    let mut sids = Vec::new();
    for (m, weights, right) in scores {
        w.now += 60_000;
        let wh = sha256(weights.as_bytes());
        let name = ["ada", "bo", "cy"][m];
        let action = Action::Submit {
            bounty: b1,
            file_hash: sha256(format!("file of {weights}").as_bytes()),
            weights_hash: wh,
            parent_weights_hash: None,
        };
        let sid = SubmissionId(w.send(&mut miners[m], name, action));
        sids.push((sid, right));
    }

    println!(
        "\n3. a late submission is refused; the operator ends submissions and evaluators are drawn"
    );
    w.now = deadline;
    let late = sha256(b"late");
    let action = Action::Submit {
        bounty: b1,
        file_hash: late,
        weights_hash: late,
        parent_weights_hash: None,
    };
    w.send(&mut miners[0], "ada", action);
    w.send(
        &mut coordinator,
        "operator",
        Action::EndSubmissions { bounty: b1 },
    );
    for (i, &(sid, right)) in sids.iter().enumerate() {
        score(&mut w, &mut evaluators, sid, right, usize::from(i == 0));
    }

    println!("\n4. after the dispute window anyone closes");
    w.now += Params::default().dispute_window_ms;
    w.send(
        &mut evaluators[0],
        "eval-1",
        Action::CloseBounty { bounty: b1 },
    );
    let state = w.chain.state();
    println!("\n   leaderboard of bounty {b1}:");
    for row in state.leaderboard(b1).unwrap_or_default() {
        let score = row.score.map_or("pending".into(), |s| s.to_string());
        let record = if row.record { "record" } else { "" };
        println!(
            "   {:>2}  {}  score {score}  paid {:>6}  {record}",
            row.rank.unwrap_or(0),
            row.miner.short(),
            row.payout.0
        );
    }
    let winner = state
        .bounty(b1)
        .and_then(|b| b.settlement.as_ref())
        .and_then(|s| s.winner)
        .expect("a winner");
    println!("   winning model {}", winner.short());

    println!("\n5. a second bounty fine-tunes the winner (winner-take-all)");
    let deadline2 = w.now + 3_600_000;
    let letters = spec(
        "letters",
        deadline2,
        Some(winner),
        PayoutRule::WinnerTakeAll,
    );
    let b2 = BountyId(w.send(
        &mut sponsor,
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(letters),
        },
    ));
    let child = sha256(b"bo-2");
    let action = Action::Submit {
        bounty: b2,
        file_hash: sha256(b"file of bo-2"),
        weights_hash: child,
        parent_weights_hash: Some(winner),
    };
    let sid = SubmissionId(w.send(&mut miners[1], "bo", action));
    w.now = deadline2;
    w.send(
        &mut coordinator,
        "operator",
        Action::EndSubmissions { bounty: b2 },
    );
    score(&mut w, &mut evaluators, sid, 950, 0);
    w.now += Params::default().dispute_window_ms;
    w.send(
        &mut evaluators[1],
        "eval-2",
        Action::CloseBounty { bounty: b2 },
    );

    println!("\n6. a business buys a licence for the fine-tuned model");
    let before: Vec<Amount> = miners
        .iter()
        .map(|m| w.balance(m))
        .chain([w.balance(&sponsor)])
        .collect();
    w.send(
        &mut business,
        "business",
        Action::BuyLicense { model: child },
    );
    let after: Vec<Amount> = miners
        .iter()
        .map(|m| w.balance(m))
        .chain([w.balance(&sponsor)])
        .collect();
    for (name, (b, a)) in ["ada", "bo", "cy", "sponsor"]
        .iter()
        .zip(before.iter().zip(&after))
    {
        println!("   royalty to {name:<8} {:>6}", a.0 - b.0);
    }

    println!("\n7. balances");
    let state = w.chain.state();
    for (name, wal) in [("sponsor", &sponsor), ("business", &business)]
        .into_iter()
        .chain(["ada", "bo", "cy"].into_iter().zip(miners.iter()))
        .chain(
            ["eval-1", "eval-2", "eval-3"]
                .into_iter()
                .zip(evaluators.iter()),
        )
    {
        let bond = state.evaluator(&wal.account()).map_or(0, |e| e.bond.0);
        println!(
            "   {name:<9} balance {:>8}  bond {bond:>5}",
            state.balance(&wal.account()).0
        );
    }
    let supply = state.supply();
    println!(
        "   minted {} burned {} (forfeited bonds)",
        supply.minted.0, supply.burned.0
    );
    state.check_conservation().expect("conservation");

    println!("\n8. an auditor replays the log, verifying every signature");
    let live = state.root();
    let replayed =
        replay(w.chain.entries(), Verify::Signatures, |_, _| {}).expect("the log replays");
    println!(
        "   {} entries, live root {} replayed root {}",
        w.chain.entries().len(),
        live.short(),
        replayed.root().short()
    );
    assert_eq!(replayed.root(), live);
    println!("   roots agree");
}
