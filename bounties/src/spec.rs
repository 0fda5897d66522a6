//! The bounty spec: what a sponsor asks for, how it is judged and paid, and its licence.
//!
//! Humans write it as TOML (see `examples/specs/`; the CLI's friendly keys are in `cli/src/spec_file.rs`); the log
//! carries its canonical borsh bytes. [`BountySpec::check`] is the one place
//! that decides whether a spec is well formed; the state machine calls it when
//! a bounty opens.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::arch::Family;
use crate::arch::lora::RANK_MAX;
use crate::ids::{Amount, Hash32, Score, TimestampMs};

/// Basis points: 10 000 is the whole.
pub const BPS_WHOLE: u16 = 10_000;

/// Limits on a spec's free text and lists, so one message cannot grow the state without bound.
pub const TITLE_BYTES_MAX: usize = 200;
/// See [`TITLE_BYTES_MAX`].
pub const DESCRIPTION_BYTES_MAX: usize = 8 * 1024;
/// The most top-k places a bounty may pay.
pub const TOP_K_MAX: usize = 32;
/// The most receipts that may be needed to make a score final.
pub const QUORUM_MAX: u8 = 16;
/// The most bootstrap resamples a bounty may ask for.
pub const BOOTSTRAP_RESAMPLES_MAX: u32 = 10_000;
/// The most examples a hidden set may have. A receipt carries one `i64` per
/// example, so this bounds a receipt to 800 kB (well under the 4 MiB message cap).
pub const HIDDEN_EXAMPLES_MAX: u32 = 100_000;

/// What kind of model the bounty asks for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Predict a class label.
    Classification,
    /// Predict the next token.
    LanguageModel,
    /// Predict a real number.
    Regression,
}

/// The judging metric.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Fraction of examples predicted right; higher is better.
    Accuracy,
    /// Mean negative log-likelihood in nats; lower is better.
    CrossEntropy,
    /// Mean squared error; lower is better.
    Mse,
}

impl Metric {
    /// Whether a larger score is a better model.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Accuracy)
    }

    /// How much better `new` is than `old`, in score units (negative when worse).
    pub fn improvement(self, new: Score, old: Score) -> i128 {
        let (new, old) = (i128::from(new.0), i128::from(old.0));
        if self.higher_is_better() {
            new - old
        } else {
            old - new
        }
    }
}

/// The architecture family and its limits.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ArchitectureLimits {
    /// The family every submission must belong to.
    pub family: Family,
    /// The most parameters a submission may have (an adapter's: the merged model's).
    pub max_parameters: u64,
    /// Whether LoRA adapters on the bounty's base are taken, and their
    /// limits; without it only whole models are.
    #[serde(default)]
    pub adapters: Option<AdapterLimits>,
}

/// What a bounty allows of a LoRA adapter on its base.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AdapterLimits {
    /// The largest rank.
    pub max_rank: u32,
    /// The most parameters an adapter trains (its `A`s, `B`s and the head).
    pub max_trainable_parameters: u64,
}

/// The optional paired bootstrap test against the current best.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bootstrap {
    /// The confidence that the new model is better, in basis points (9500 = 95%).
    pub confidence_bps: u16,
    /// How many resamples to draw.
    pub resamples: u32,
}

/// How submissions are judged.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Judging {
    /// The metric on the hidden set.
    pub metric: Metric,
    /// The score to beat: the base model's score on the hidden set, or a stated one.
    pub baseline: Score,
    /// How much a submission must beat the baseline (and a record must beat the previous record) by.
    #[serde(default)]
    pub min_improvement: Score,
    /// An optional paired bootstrap test a new record must pass against the current one.
    #[serde(default)]
    pub bootstrap: Option<Bootstrap>,
}

/// How the reward is split at close.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    tag = "rule"
)]
pub enum PayoutRule {
    /// The final record holder takes everything.
    WinnerTakeAll,
    /// The best eligible submission of each of the top miners takes its share (basis points,
    /// summing to 10 000); places nobody fills go back to the sponsor.
    TopK {
        /// Shares of the 1st, 2nd, ... place.
        shares_bps: Vec<u16>,
    },
    /// Each submission that set a new record is paid in proportion to the improvement it added
    /// over the previous record (the first record: over the baseline).
    Improvement,
}

/// Whether and how a model may be used commercially.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CommercialUse {
    /// Free to use.
    Allowed,
    /// Free to use with credit.
    AllowedWithCredit,
    /// Use requires buying a licence for the fee.
    AllowedWithFee,
    /// No commercial use.
    NotAllowed,
}

/// Whether and how others may fine-tune the model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    tag = "terms"
)]
pub enum Derivation {
    /// Derivatives are allowed with credit.
    AllowedWithCredit,
    /// Derivatives are allowed; this share of every licence fee a derivative earns flows here.
    AllowedWithRevenueShare {
        /// The share in basis points.
        share_bps: u16,
    },
    /// No derivatives: a bounty may not name this model as its base.
    NotAllowed,
}

// The words of the spec (its TOML values), for people: pages and CLIs print
// these, never the Rust names.

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::LanguageModel => "language-model",
            Task::Regression => "regression",
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Accuracy => "accuracy",
            Metric::CrossEntropy => "cross-entropy",
            Metric::Mse => "mse",
        })
    }
}

/// Basis points as a percentage (`2500` is `25%`, `125` is `1.25%`).
fn percent(bps: u16) -> String {
    let (whole, rest) = (bps / 100, bps % 100);
    if rest == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{rest:02}%")
    }
}

impl fmt::Display for PayoutRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayoutRule::WinnerTakeAll => f.write_str("winner-take-all"),
            PayoutRule::TopK { shares_bps } => {
                let shares: Vec<String> = shares_bps.iter().map(|b| percent(*b)).collect();
                write!(f, "top-k: {}", shares.join(" / "))
            }
            PayoutRule::Improvement => f.write_str("improvement"),
        }
    }
}

impl fmt::Display for CommercialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommercialUse::Allowed => "allowed",
            CommercialUse::AllowedWithCredit => "allowed-with-credit",
            CommercialUse::AllowedWithFee => "allowed-with-fee",
            CommercialUse::NotAllowed => "not-allowed",
        })
    }
}

impl fmt::Display for Derivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Derivation::AllowedWithCredit => f.write_str("allowed-with-credit"),
            Derivation::AllowedWithRevenueShare { share_bps } => {
                write!(f, "allowed-with-revenue-share: {}", percent(*share_bps))
            }
            Derivation::NotAllowed => f.write_str("not-allowed"),
        }
    }
}

/// The licence the winning model is released under (Arweave UDL-style terms).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LicenceTerms {
    /// The licence's name, e.g. `UDL-1.0`.
    pub name: String,
    /// Commercial use terms.
    pub commercial_use: CommercialUse,
    /// The one-time licence fee (charged only with `allowed-with-fee`).
    #[serde(default)]
    pub fee: Amount,
    /// Derivation terms.
    pub derivation: Derivation,
    /// How long a bought licence lasts; `None` is forever.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

impl LicenceTerms {
    /// Check that the terms are well formed: a printable name, a fee where
    /// one is charged, a revenue share of at most the whole.
    pub fn check(&self) -> Result<(), SpecError> {
        let name = &self.name;
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(SpecError::LicenceName);
        }
        if self.commercial_use == CommercialUse::AllowedWithFee && self.fee.is_zero() {
            return Err(SpecError::LicenceFee);
        }
        if let Derivation::AllowedWithRevenueShare { share_bps } = self.derivation
            && share_bps > BPS_WHOLE
        {
            return Err(SpecError::RevenueShare);
        }
        Ok(())
    }
}

/// How a licence fee that reaches a model is shared among its holders.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RoyaltyShares {
    /// The paid miners' share, split in proportion to their rewards.
    pub contributors_bps: u16,
    /// The sponsor's share.
    pub sponsor_bps: u16,
}

/// Everything a sponsor states when opening a bounty.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BountySpec {
    /// A one-line title.
    pub title: String,
    /// What the bounty is for.
    #[serde(default)]
    pub description: String,
    /// The task.
    pub task: Task,
    /// The public training set's dataset hash.
    pub train_dataset: Hash32,
    /// The hidden evaluation set's dataset hash: the commitment, published at close.
    pub hidden_dataset: Hash32,
    /// How many examples the hidden set has: every receipt carries exactly
    /// this many per-example scores, so a receipt's size is fixed at open.
    pub hidden_examples: u32,
    /// The architecture family and its limits.
    pub architecture: ArchitectureLimits,
    /// The weights hash of the model to fine-tune from, if any.
    #[serde(default)]
    pub base_model: Option<Hash32>,
    /// Judging.
    pub judging: Judging,
    /// The reward, escrowed at open.
    pub reward: Amount,
    /// The evaluation budget, escrowed at open; receipts are paid from it.
    pub evaluation_budget: Amount,
    /// What each accepted receipt is paid.
    pub fee_per_receipt: Amount,
    /// What each submission escrows: returned at the close when its file was
    /// scorable, forfeited to the sponsor when a quorum found it unscorable.
    /// At least `quorum × fee_per_receipt`, so spam pays for its own scoring.
    pub submission_deposit: Amount,
    /// How many agreeing receipts make a score final.
    pub quorum: u8,
    /// How many submissions one miner may make.
    pub max_submissions_per_miner: u32,
    /// No submission is accepted at or after this time.
    pub deadline_ms: TimestampMs,
    /// How the reward is split.
    pub payout: PayoutRule,
    /// The licence of the winning model.
    pub licence: LicenceTerms,
    /// How licence fees are shared.
    pub royalties: RoyaltyShares,
}

/// Why a spec is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The title is empty or too long.
    #[error("title must be 1 to {TITLE_BYTES_MAX} bytes")]
    Title,
    /// The description is too long.
    #[error("description must be at most {DESCRIPTION_BYTES_MAX} bytes")]
    Description,
    /// The metric does not fit the task.
    #[error("metric {metric:?} does not fit task {task:?}")]
    MetricForTask {
        /// The metric.
        metric: Metric,
        /// The task.
        task: Task,
    },
    /// The family does not fit the task.
    #[error("architecture family {family:?} does not fit task {task:?}")]
    FamilyForTask {
        /// The family.
        family: Family,
        /// The task.
        task: Task,
    },
    /// Parameters limit of zero.
    #[error("max-parameters must be positive")]
    MaxParameters,
    /// The reward is zero.
    #[error("the reward must be positive")]
    ZeroReward,
    /// Quorum out of range.
    #[error("quorum must be 1 to {QUORUM_MAX}")]
    Quorum,
    /// The budget cannot pay one quorum of receipts.
    #[error("the evaluation budget must cover at least one quorum of receipt fees")]
    Budget,
    /// The deposit does not pay for a quorum of receipts.
    #[error("submission-deposit must be at least quorum × fee-per-receipt")]
    Deposit,
    /// The hidden set's example count out of range.
    #[error("hidden-examples must be 1 to {HIDDEN_EXAMPLES_MAX}")]
    HiddenExamples,
    /// The training and hidden sets are the same file.
    #[error("the hidden set must not be the training set")]
    HiddenIsTrain,
    /// Submission limit of zero.
    #[error("max-submissions-per-miner must be positive")]
    SubmissionLimit,
    /// A negative minimum improvement.
    #[error("min-improvement must not be negative")]
    MinImprovement,
    /// Bootstrap parameters out of range.
    #[error(
        "bootstrap confidence must be 5000..=9999 bps and resamples 100..={BOOTSTRAP_RESAMPLES_MAX}"
    )]
    Bootstrap,
    /// Top-k shares malformed.
    #[error("top-k shares must be 1 to {TOP_K_MAX} positive values summing to 10000 bps")]
    TopKShares,
    /// Licence name malformed.
    #[error("licence name must be 1 to 64 printable characters")]
    LicenceName,
    /// A fee licence with no fee.
    #[error("commercial-use allowed-with-fee needs a positive fee")]
    LicenceFee,
    /// Revenue share above the whole.
    #[error("revenue share must be at most 10000 bps")]
    RevenueShare,
    /// Royalty shares that do not sum to the whole.
    #[error("royalty shares must sum to 10000 bps")]
    RoyaltyShares,
    /// Adapter limits without a base, on a family LoRA does not apply to, or out of range.
    #[error(
        "architecture.adapters needs a base-model of family bert, a max-rank of 1 to {RANK_MAX} and a positive max-trainable-parameters"
    )]
    Adapters,
}

impl BountySpec {
    /// Check that the spec is well formed on its own (the state machine checks
    /// what depends on the state: time, balances, the base model).
    pub fn check(&self) -> Result<(), SpecError> {
        if self.title.trim().is_empty() || self.title.len() > TITLE_BYTES_MAX {
            return Err(SpecError::Title);
        }
        if self.description.len() > DESCRIPTION_BYTES_MAX {
            return Err(SpecError::Description);
        }
        let metric_fits = match self.task {
            Task::Classification | Task::LanguageModel => {
                matches!(self.judging.metric, Metric::Accuracy | Metric::CrossEntropy)
            }
            Task::Regression => self.judging.metric == Metric::Mse,
        };
        if !metric_fits {
            return Err(SpecError::MetricForTask {
                metric: self.judging.metric,
                task: self.task,
            });
        }
        if !self.architecture.family.tasks().contains(&self.task) {
            return Err(SpecError::FamilyForTask {
                family: self.architecture.family,
                task: self.task,
            });
        }
        if self.architecture.max_parameters == 0 {
            return Err(SpecError::MaxParameters);
        }
        if let Some(a) = &self.architecture.adapters
            && (self.base_model.is_none()
                || self.architecture.family != Family::Bert
                || !(1..=RANK_MAX).contains(&a.max_rank)
                || a.max_trainable_parameters == 0)
        {
            return Err(SpecError::Adapters);
        }
        if self.reward.is_zero() {
            return Err(SpecError::ZeroReward);
        }
        if self.quorum == 0 || self.quorum > QUORUM_MAX {
            return Err(SpecError::Quorum);
        }
        let quorum_cost = self.fee_per_receipt.0.checked_mul(u128::from(self.quorum));
        if quorum_cost.is_none_or(|cost| cost > self.evaluation_budget.0) {
            return Err(SpecError::Budget);
        }
        if quorum_cost.is_none_or(|cost| cost > self.submission_deposit.0) {
            return Err(SpecError::Deposit);
        }
        if self.hidden_examples == 0 || self.hidden_examples > HIDDEN_EXAMPLES_MAX {
            return Err(SpecError::HiddenExamples);
        }
        if self.hidden_dataset == self.train_dataset {
            return Err(SpecError::HiddenIsTrain);
        }
        if self.max_submissions_per_miner == 0 {
            return Err(SpecError::SubmissionLimit);
        }
        if self.judging.min_improvement.0 < 0 {
            return Err(SpecError::MinImprovement);
        }
        if let Some(b) = &self.judging.bootstrap
            && (!(5_000..=9_999).contains(&b.confidence_bps)
                || !(100..=BOOTSTRAP_RESAMPLES_MAX).contains(&b.resamples))
        {
            return Err(SpecError::Bootstrap);
        }
        if let PayoutRule::TopK { shares_bps } = &self.payout {
            let sum: u32 = shares_bps.iter().map(|&s| u32::from(s)).sum();
            if shares_bps.is_empty()
                || shares_bps.len() > TOP_K_MAX
                || shares_bps.contains(&0)
                || sum != u32::from(BPS_WHOLE)
            {
                return Err(SpecError::TopKShares);
            }
        }
        self.licence.check()?;
        let royalties =
            u32::from(self.royalties.contributors_bps) + u32::from(self.royalties.sponsor_bps);
        if royalties != u32::from(BPS_WHOLE) {
            return Err(SpecError::RoyaltyShares);
        }
        Ok(())
    }

    /// The fee a licensee pays under these terms.
    pub fn licence_fee(&self) -> Amount {
        match self.licence.commercial_use {
            CommercialUse::AllowedWithFee => self.licence.fee,
            _ => Amount::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_read_the_words_of_the_spec_not_rust_names() {
        // A unit variant prints exactly as the spec file spells it.
        let word = |v: serde_json::Value| v.as_str().map(str::to_owned);
        for t in [Task::Classification, Task::LanguageModel, Task::Regression] {
            assert_eq!(word(serde_json::to_value(t).unwrap()), Some(t.to_string()));
        }
        for m in [Metric::Accuracy, Metric::CrossEntropy, Metric::Mse] {
            assert_eq!(word(serde_json::to_value(m).unwrap()), Some(m.to_string()));
        }
        for c in [
            CommercialUse::Allowed,
            CommercialUse::AllowedWithCredit,
            CommercialUse::AllowedWithFee,
            CommercialUse::NotAllowed,
        ] {
            assert_eq!(word(serde_json::to_value(c).unwrap()), Some(c.to_string()));
        }
        assert_eq!(PayoutRule::WinnerTakeAll.to_string(), "winner-take-all");
        let top = PayoutRule::TopK {
            shares_bps: vec![6000, 2750, 1250],
        };
        assert_eq!(top.to_string(), "top-k: 60% / 27.50% / 12.50%");
        let share = Derivation::AllowedWithRevenueShare { share_bps: 1000 };
        assert_eq!(share.to_string(), "allowed-with-revenue-share: 10%");
    }
}
