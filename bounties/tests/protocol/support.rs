//! Fixtures shared by the protocol tests: keys, a genesis, specs, and a chain driver.

use bounties::chain::{Chain, Wallet};
use bounties::encoding::{example_scores_digest, sha256};
use bounties::spec::*;
use bounties::*;

pub const T0: u64 = 1_700_000_000_000;
pub const CHAIN: &str = "test-chain";

pub fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(sha256(name.as_bytes()).0)
}

pub fn hash(label: &str) -> Hash32 {
    sha256(label.as_bytes())
}

pub fn genesis(balances: &[(&str, u128)], params: Params) -> Genesis {
    let mut balances: Vec<(AccountId, Amount)> = balances
        .iter()
        .map(|(n, a)| (key(n).account(), Amount(*a)))
        .collect();
    balances.sort();
    Genesis {
        chain_id: CHAIN.into(),
        params,
        minter: key("minter").account(),
        operator: key("operator").account(),
        balances,
    }
}

/// A classification bounty: accuracy, winner-take-all, quorum 2.
pub fn spec(deadline_ms: u64) -> BountySpec {
    BountySpec {
        title: "digits".into(),
        description: "classify 8x8 digits".into(),
        task: Task::Classification,
        train_dataset: hash("train"),
        // Each bounty needs a hidden set of its own: the deadline tells them apart.
        hidden_dataset: hash(&format!("hidden-{deadline_ms}")),
        hidden_examples: 10,
        architecture: ArchitectureLimits {
            family: arch::Family::Mlp,
            max_parameters: 100_000,
            adapters: None,
        },
        base_model: None,
        judging: Judging {
            metric: Metric::Accuracy,
            baseline: Score(500_000),
            min_improvement: Score(0),
            bootstrap: None,
        },
        reward: Amount(10_000),
        evaluation_budget: Amount(40),
        fee_per_receipt: Amount(10),
        submission_deposit: Amount(20),
        quorum: 2,
        max_submissions_per_miner: 2,
        deadline_ms: TimestampMs(deadline_ms),
        payout: PayoutRule::WinnerTakeAll,
        licence: LicenceTerms {
            name: "UDL-1.0".into(),
            commercial_use: CommercialUse::AllowedWithFee,
            fee: Amount(1_000),
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 1_000 },
            duration_ms: Some(365 * 24 * 3600 * 1000),
        },
        royalties: RoyaltyShares {
            contributors_bps: 7_000,
            sponsor_bps: 3_000,
        },
    }
}

/// A receipt scoring the weights `weights` with these per-example scores.
pub fn receipt(
    submission: SubmissionId,
    dataset: Hash32,
    weights: Hash32,
    examples: Vec<i64>,
) -> Receipt {
    let score = Score(examples.iter().sum::<i64>() / examples.len().max(1) as i64);
    Receipt {
        submission,
        dataset,
        evaluator_build: hash("evaluator-build"),
        verdict: message::Verdict::Scored {
            weights_hash: weights,
            score,
            example_digest: example_scores_digest(&examples),
            example_scores: examples,
        },
    }
}

/// A receipt finding the file unscorable.
pub fn unscorable(submission: SubmissionId, dataset: Hash32, why: message::Unscorable) -> Receipt {
    Receipt {
        submission,
        dataset,
        evaluator_build: hash("evaluator-build"),
        verdict: message::Verdict::Unscorable(why),
    }
}

/// Per-example accuracy scores: `right` of `n` examples right.
pub fn accuracy(right: usize, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| if i < right { Score::SCALE } else { 0 })
        .collect()
}

/// A chain with named wallets and a clock the test moves.
pub struct Driver {
    pub chain: Chain,
    pub wallets: std::collections::BTreeMap<String, Wallet>,
    pub now: u64,
}

impl Driver {
    pub fn new(genesis: &Genesis) -> Driver {
        let chain =
            Chain::new(genesis, &key("operator"), TimestampMs(T0)).expect("genesis applies");
        Driver {
            chain,
            wallets: Default::default(),
            now: T0,
        }
    }

    pub fn wallet(&mut self, name: &str) -> &mut Wallet {
        self.wallets
            .entry(name.to_owned())
            .or_insert_with(|| Wallet::new(key(name), CHAIN, 0))
    }

    /// Sign and append; on rejection the wallet's nonce is given back.
    pub fn send(&mut self, who: &str, action: Action) -> Result<u64, Rejection> {
        let now = TimestampMs(self.now);
        let signed = self.wallet(who).sign(action);
        match self.chain.append(signed, now) {
            Ok(entry) => Ok(entry.seq),
            Err(e) => {
                self.wallet(who).unuse_nonce();
                Err(e)
            }
        }
    }

    /// Send and expect success.
    pub fn ok(&mut self, who: &str, action: Action) -> u64 {
        let name = action.name();
        self.send(who, action)
            .unwrap_or_else(|e| panic!("{who} {name}: {e}"))
    }

    pub fn state(&self) -> &State {
        self.chain.state()
    }

    pub fn balance(&self, name: &str) -> u128 {
        self.state().balance(&key(name).account()).0
    }

    /// The wallet name of an account this driver has signed for.
    pub fn name_of(&self, account: &AccountId) -> String {
        self.wallets
            .keys()
            .find(|n| key(n).account() == *account)
            .cloned()
            .unwrap_or_else(|| panic!("no wallet for {account}"))
    }

    /// Move to the bounty's deadline and end its submissions (drawing panels).
    pub fn end(&mut self, bounty: BountyId) {
        let deadline = self.state().bounty(bounty).unwrap().spec.deadline_ms.0;
        self.now = self.now.max(deadline);
        self.ok("operator", Action::EndSubmissions { bounty });
    }

    /// The names of the evaluators drawn for a submission.
    pub fn panel(&self, sid: SubmissionId) -> Vec<String> {
        let panel = self.state().submission(sid).unwrap().panel.clone();
        panel.iter().map(|a| self.name_of(a)).collect()
    }

    /// Every panel member of `sid` scores it with `examples`.
    pub fn score(&mut self, sid: SubmissionId, examples: &[i64]) {
        let sub = self.state().submission(sid).unwrap().clone();
        let hidden = self.state().bounty(sub.bounty).unwrap().spec.hidden_dataset;
        for e in self.panel(sid) {
            self.ok(
                &e,
                Action::PostReceipt(receipt(sid, hidden, sub.weights_hash, examples.to_vec())),
            );
        }
    }
}
