//! The records the state keeps: bounties, submissions, models, evaluators, receipts, licences.
//!
//! They are plain data. Large or rarely-changed parts sit behind `Arc` so that
//! the copy-on-write maps of [`super::State`] copy little when a record changes.

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Amount, BountyId, Hash32, Score, SubmissionId, TimestampMs};
use crate::message::Finding;
use crate::spec::{BountySpec, LicenceTerms, RoyaltyShares};

/// Where a bounty is in its life.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BountyStatus {
    /// Taking submissions, until the deadline; nobody but the uploaders can
    /// read its hidden set or its models.
    Open,
    /// Submissions ended (`EndSubmissions`): each submission's drawn
    /// evaluators may read its model and the hidden set, and post receipts.
    Scoring,
    /// Judged and paid (or refunded); its data is unsealed.
    Closed,
    /// Cancelled by the sponsor before any submission; refunded.
    Cancelled,
}

impl BountyStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            BountyStatus::Open => "open",
            BountyStatus::Scoring => "scoring",
            BountyStatus::Closed => "closed",
            BountyStatus::Cancelled => "cancelled",
        }
    }
}

/// One payment of the reward.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payout {
    /// The paid submission.
    pub submission: SubmissionId,
    /// Its miner.
    pub miner: AccountId,
    /// How much.
    pub amount: Amount,
}

/// What happened at close.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// The submissions that set a new record, in order (with their improvement in score units).
    pub records: Vec<(SubmissionId, u128)>,
    /// The winning model, if any submission was eligible.
    #[serde(deserialize_with = "crate::json::present")]
    pub winner: Option<Hash32>,
    /// Reward payments.
    pub payouts: Vec<Payout>,
    /// Reward returned to the sponsor.
    pub reward_refund: Amount,
    /// Evaluation budget returned to the sponsor.
    pub budget_refund: Amount,
    /// Deposits returned to miners (scorable or never judged).
    pub deposits_returned: Amount,
    /// Deposits of submissions found unscorable, paid to the sponsor.
    pub deposits_forfeited: Amount,
}

/// A bounty.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounty {
    /// Its id (the seq of its OpenBounty entry).
    pub id: BountyId,
    /// Who opened it.
    pub sponsor: AccountId,
    /// What it asks for.
    pub spec: Arc<BountySpec>,
    /// When it opened.
    pub opened_at: TimestampMs,
    /// Its status.
    pub status: BountyStatus,
    /// Reward still in escrow.
    pub reward_escrow: Amount,
    /// Evaluation budget still in escrow.
    pub budget_escrow: Amount,
    /// Submission deposits in escrow.
    pub deposit_escrow: Amount,
    /// How many submissions it has.
    pub submissions: u32,
    /// The seed of its panel, dispute and bootstrap draws, fixed by `EndSubmissions`.
    #[serde(deserialize_with = "crate::json::present")]
    pub draw_seed: Option<Hash32>,
    /// When it closed or was cancelled.
    #[serde(deserialize_with = "crate::json::present")]
    pub closed_at: Option<TimestampMs>,
    /// What happened at close.
    #[serde(deserialize_with = "crate::json::present")]
    pub settlement: Option<Arc<Settlement>>,
}

impl Bounty {
    /// Whether its submissions and hidden set are still sealed (readable only
    /// by their uploaders and, while scoring, by the evaluators drawn for them).
    pub fn is_sealed(&self) -> bool {
        matches!(self.status, BountyStatus::Open | BountyStatus::Scoring)
    }
}

/// A finding that the drawn panel agreed on bit for bit (or a dispute panel's majority).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalScore {
    /// What was found: a score, or why the file is unscorable.
    pub finding: Finding,
    /// The seq of the receipt that made it final.
    pub final_at_seq: u64,
    /// When it became final: the dispute window runs from here.
    pub final_at: TimestampMs,
}

impl FinalScore {
    /// The score, when the file was scorable.
    pub fn score(&self) -> Option<Score> {
        self.finding.score()
    }
}

/// A contested submission: a larger panel decides, by the bond its members
/// were drawn with.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispute {
    /// The seq of the receipt that opened it.
    pub opened_at_seq: u64,
    /// The evaluator outside the panel who contested a final score, if one did
    /// (a panel that disagreed with itself opens a dispute with none).
    #[serde(deserialize_with = "crate::json::present")]
    pub challenger: Option<AccountId>,
    /// The dispute panel drawn (never the miner, the panel or the challenger).
    pub panel: Vec<AccountId>,
    /// Each member's bond when drawn, in panel order: a finding is decided
    /// when the members posting it hold more than half of their sum. Fixed at
    /// the draw, so bonding more after being drawn buys no weight.
    pub bonds: Vec<Amount>,
    /// The final score the challenge suspended, if any.
    #[serde(deserialize_with = "crate::json::present")]
    pub contested: Option<Arc<FinalScore>>,
}

/// Why an evaluator's receipt counts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptRole {
    /// Drawn for the submission at `EndSubmissions`.
    Panel,
    /// Drawn for its dispute.
    DisputePanel,
    /// Contested a final score from outside the panel.
    Challenger,
}

/// A submission.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Its id (the seq of its Submit entry).
    pub id: SubmissionId,
    /// The bounty.
    pub bounty: BountyId,
    /// The miner.
    pub miner: AccountId,
    /// SHA-256 of the uploaded file.
    pub file_hash: Hash32,
    /// The weights hash.
    pub weights_hash: Hash32,
    /// The weights hash it was fine-tuned from.
    #[serde(deserialize_with = "crate::json::present")]
    pub parent: Option<Hash32>,
    /// When it was submitted.
    pub submitted_at: TimestampMs,
    /// The deposit it escrowed.
    pub deposit: Amount,
    /// The evaluators drawn to score it (at `EndSubmissions`).
    pub panel: Vec<AccountId>,
    /// How many receipts it has.
    pub receipts: u32,
    /// Its final finding, once the panel agrees (set once: behind an `Arc`).
    #[serde(deserialize_with = "crate::json::present")]
    pub final_score: Option<Arc<FinalScore>>,
    /// The dispute in progress or decided, if any (behind an `Arc`: it is
    /// rare, and the map's nodes copy every record inline on each change).
    #[serde(deserialize_with = "crate::json::present")]
    pub dispute: Option<Arc<Dispute>>,
}

/// What a winning model's licence sales are shared by.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceInfo {
    /// The terms.
    pub terms: LicenceTerms,
    /// The royalty shares.
    pub royalties: RoyaltyShares,
    /// The bounty's sponsor.
    pub sponsor: AccountId,
    /// The paid miners with what they were paid (the weights of their share), by account.
    pub contributors: Vec<(AccountId, Amount)>,
}

/// A model: the first appearance of a weights hash in the log.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The weights hash.
    pub weights_hash: Hash32,
    /// Where it first appeared.
    pub origin: Origin,
    /// Its miner, or for a published model its publisher.
    pub miner: AccountId,
    /// Its parent's weights hash.
    #[serde(deserialize_with = "crate::json::present")]
    pub parent: Option<Hash32>,
    /// Set when the model wins a bounty: its licence.
    #[serde(deserialize_with = "crate::json::present")]
    pub licence: Option<Arc<LicenceInfo>>,
    /// Licence fees that reached this model's holders (its own sales and its derivatives' shares).
    pub royalties_received: Amount,
    /// How many licences were sold for it.
    pub licences_sold: u64,
}

/// Where a model first appeared.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Origin {
    /// Submitted to a bounty.
    Submitted {
        /// The submission that first named it.
        submission: SubmissionId,
        /// Its bounty.
        bounty: BountyId,
    },
    /// Published whole, as a base to fine-tune (a pretrained model's file).
    Published {
        /// SHA-256 of its file (public).
        file_hash: Hash32,
        /// Where it comes from, in the publisher's words.
        source: String,
        /// When.
        published_at: TimestampMs,
    },
}

impl Model {
    /// The submission that first named it, unless it was published.
    pub fn submission(&self) -> Option<SubmissionId> {
        match self.origin {
            Origin::Submitted { submission, .. } => Some(submission),
            Origin::Published { .. } => None,
        }
    }

    /// The bounty it was submitted to, unless it was published.
    pub fn bounty(&self) -> Option<BountyId> {
        match self.origin {
            Origin::Submitted { bounty, .. } => Some(bounty),
            Origin::Published { .. } => None,
        }
    }
}

/// A registered evaluator.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluator {
    /// The bond held.
    pub bond: Amount,
    /// Receipts accepted.
    pub receipts: u64,
    /// Bond forfeited for receipts a dispute panel contradicted.
    pub forfeited: Amount,
}

/// An accepted receipt.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRecord {
    /// The seq of its entry.
    pub seq: u64,
    /// The evaluator.
    pub evaluator: AccountId,
    /// The evaluator build.
    pub evaluator_build: Hash32,
    /// Why it counts.
    pub role: ReceiptRole,
    /// What it found.
    pub finding: Finding,
    /// The fee it was paid.
    pub fee: Amount,
    /// The bond it forfeited (a dispute panel found otherwise).
    pub forfeited: Amount,
}

/// A licence bought.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// Its id (the seq of its BuyLicense entry).
    pub id: u64,
    /// Who bought it.
    pub licensee: AccountId,
    /// The model.
    pub model: Hash32,
    /// The fee paid.
    pub fee: Amount,
    /// When it was bought.
    pub bought_at: TimestampMs,
    /// When it ends, if it does.
    #[serde(deserialize_with = "crate::json::present")]
    pub expires_at: Option<TimestampMs>,
    /// Where the fee went, by account.
    pub splits: Vec<(AccountId, Amount)>,
}

/// What the log says an artifact is: the index behind the read rule, so
/// access never scans bounties. Derived from bounties and submissions (not
/// hashed into the state root).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum ArtifactUse {
    /// Some bounty's training set: public.
    TrainSet(BountyId),
    /// A bounty's hidden set: sealed until that bounty closes.
    HiddenSet(BountyId),
    /// A submission's model file: sealed until its bounty closes.
    ModelFile(SubmissionId),
    /// A published model's file (by its weights hash): public.
    Published(Hash32),
}
