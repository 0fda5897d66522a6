//! Every reason the ledger refuses an entry, worded for the user who sent it.
//!
//! A rejected entry changes nothing. [`Rejection::code`] is a stable
//! snake_case name for scripts and HTTP clients; the `Display` text is for people.

use crate::genesis::GenesisError;
use crate::ids::{AccountId, Amount, BountyId, Hash32, SubmissionId, TimestampMs};
use crate::spec::SpecError;
use crate::split::SplitError;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    // -- the entry and its message --
    /// The entry is not the next one.
    #[error("entry has seq {got}, but the next seq is {expected}")]
    WrongSeq {
        /// The next seq.
        expected: u64,
        /// The seq given.
        got: u64,
    },
    /// The entry does not link to the head.
    #[error("entry's prev_hash {got} is not the head's hash {expected}")]
    BrokenChain {
        /// The head's hash.
        expected: Hash32,
        /// The prev hash given.
        got: Hash32,
    },
    /// The timestamp is earlier than the head's.
    #[error("entry's timestamp {got} is earlier than the previous entry's {last}")]
    TimeWentBackwards {
        /// The head's time.
        last: TimestampMs,
        /// The time given.
        got: TimestampMs,
    },
    /// The message is larger than the chain allows.
    #[error("message is {bytes} bytes; the most allowed is {max}")]
    MessageTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: u32,
    },
    /// The message bytes do not decode.
    #[error("message does not decode: {0}")]
    Malformed(String),
    /// The genesis is not well formed.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// The message names another chain.
    #[error("message is for chain {got:?}, this is chain {expected:?}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The chain named.
        got: String,
    },
    /// The signature does not verify (forged, tampered, or by another key).
    #[error("signature does not verify for signer {signer}")]
    BadSignature {
        /// The claimed signer.
        signer: AccountId,
    },
    /// The nonce is not the signer's previous nonce + 1 (a replay, a gap or a reorder).
    #[error(
        "nonce {got} is not the next nonce {expected} for this signer (replayed or out of order)"
    )]
    BadNonce {
        /// The next nonce.
        expected: u64,
        /// The nonce given.
        got: u64,
    },

    // -- tokens --
    /// Only the minter may mint.
    #[error("only the minter may mint")]
    NotMinter,
    /// Only the operator may do this.
    #[error("only the coordinator's operator may end a bounty's submissions")]
    NotOperator,
    /// An amount of zero where a positive one is needed.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Not enough tokens.
    #[error("insufficient balance: needs {needed}, has {available}")]
    InsufficientBalance {
        /// What is needed.
        needed: Amount,
        /// What the account has.
        available: Amount,
    },
    /// The arithmetic would overflow.
    #[error("amount overflows: {what}")]
    Overflow {
        /// What overflowed.
        what: &'static str,
    },

    // -- bounties --
    /// The spec is not well formed.
    #[error("invalid bounty spec: {0}")]
    InvalidSpec(#[from] SpecError),
    /// The deadline is not in the future.
    #[error("deadline {deadline} is not after now {now}")]
    DeadlineNotInFuture {
        /// The deadline.
        deadline: TimestampMs,
        /// Now.
        now: TimestampMs,
    },
    /// The base model's licence forbids fine-tuning it.
    #[error("base model {model} does not allow derivatives")]
    DerivationNotAllowed {
        /// The base model.
        model: Hash32,
    },
    /// No such bounty.
    #[error("no bounty {0}")]
    UnknownBounty(BountyId),
    /// The bounty is closed or cancelled.
    #[error("bounty {bounty} is {status}, not open")]
    BountyNotOpen {
        /// The bounty.
        bounty: BountyId,
        /// Its status.
        status: &'static str,
    },
    /// Only the sponsor may do this.
    #[error("only the sponsor of bounty {0} may do this")]
    NotSponsor(BountyId),
    /// The hidden set is already named in the log (another bounty's hidden or
    /// training set, or a submission's file): a judging secret is used once.
    #[error("dataset {0} is already named in the log; a hidden set must be new")]
    HiddenSetInUse(Hash32),
    /// The training set is another bounty's sealed hidden set or model.
    #[error("artifact {0} is sealed by an open bounty and cannot be a training set")]
    SealedArtifact(Hash32),
    /// The base model is still sealed in an open bounty.
    #[error("base model {0} is not released: its bounty has not closed")]
    BaseModelSealed(Hash32),
    /// The bounty is not in the scoring phase.
    #[error("bounty {bounty} is {status}: receipts are taken only while it is scoring")]
    NotScoring {
        /// The bounty.
        bounty: BountyId,
        /// Its status.
        status: &'static str,
    },
    /// A bounty with submissions cannot be cancelled.
    #[error("bounty {0} has submissions and cannot be cancelled")]
    HasSubmissions(BountyId),

    // -- submissions --
    /// The deadline has passed.
    #[error("bounty {bounty} stopped taking submissions at {deadline}")]
    AfterDeadline {
        /// The bounty.
        bounty: BountyId,
        /// Its deadline.
        deadline: TimestampMs,
    },
    /// The miner has used all their submissions.
    #[error("submission limit of {limit} per miner reached")]
    SubmissionLimit {
        /// The limit.
        limit: u32,
    },
    /// Another miner submitted these weights first.
    #[error(
        "weights {weights} were first submitted by {by}; priority belongs to the first appearance"
    )]
    WeightsClaimed {
        /// The weights hash.
        weights: Hash32,
        /// Who has priority.
        by: AccountId,
    },
    /// A sponsor submitting to its own bounty.
    #[error("the sponsor of bounty {0} may not submit to it")]
    SponsorCannotSubmit(BountyId),
    /// The file is already named in the log.
    #[error("file {0} is already named in the log (a submission or a dataset)")]
    FileClaimed(Hash32),
    /// This miner already submitted these weights.
    #[error("weights {0} are already submitted")]
    AlreadySubmitted(Hash32),
    /// The parent is not the bounty's base model.
    #[error("the bounty fine-tunes {expected}; the submission's parent must be that model")]
    ParentMismatch {
        /// The base model.
        expected: Hash32,
    },

    // -- published models --
    /// A publication's source is empty, too long or not printable.
    #[error("a published model's source must be 1 to {max} printable bytes")]
    BadSource {
        /// The most allowed.
        max: usize,
    },
    /// A publication's licence terms are not well formed.
    #[error("invalid licence terms: {0}")]
    InvalidLicence(SpecError),

    // -- evaluations --
    /// A bond below the minimum.
    #[error("an evaluator's bond must be at least {min}")]
    BondTooSmall {
        /// The minimum bond.
        min: Amount,
    },
    /// The signer is not a registered evaluator in good standing.
    #[error("{0} is not a registered evaluator with the minimum bond")]
    NotEvaluator(AccountId),
    /// No such submission.
    #[error("no submission {0}")]
    UnknownSubmission(SubmissionId),
    /// The receipt scores another dataset.
    #[error("receipt scores dataset {got}; the bounty's hidden set is {expected}")]
    WrongDataset {
        /// The hidden set.
        expected: Hash32,
        /// The dataset named.
        got: Hash32,
    },
    /// The receipt does not carry one score per hidden example.
    #[error("a receipt carries {got} per-example scores; the hidden set has {expected}")]
    WrongExampleCount {
        /// The spec's `hidden_examples`.
        expected: u32,
        /// How many the receipt carries.
        got: usize,
    },
    /// The weights scored are not the weights submitted.
    #[error("receipt scored weights {scored}; the submission claims {claimed}")]
    WeightsMismatch {
        /// The submission's weights hash.
        claimed: Hash32,
        /// The receipt's.
        scored: Hash32,
    },
    /// The evaluator was not drawn for this submission.
    #[error("this evaluator was not drawn to score submission {0}")]
    NotAssigned(SubmissionId),
    /// The dispute window of the final score has passed.
    #[error("submission {sid}'s score is final and its dispute window closed at {until}")]
    DisputeWindowClosed {
        /// The submission.
        sid: SubmissionId,
        /// When the window closed.
        until: TimestampMs,
    },
    /// No evaluator is left to hear a dispute.
    #[error("no evaluator outside the panel is left to hear a dispute of submission {0}")]
    NoDisputePanel(SubmissionId),
    /// The digest does not match the per-example scores.
    #[error("example digest does not match the per-example scores")]
    DigestMismatch,
    /// A miner may not evaluate their own submission.
    #[error("an evaluator may not score their own submission")]
    SelfEvaluation,
    /// One receipt per evaluator per submission.
    #[error("this evaluator already posted a receipt for submission {0}")]
    DuplicateReceipt(SubmissionId),
    /// The score is already final and this receipt agrees with it.
    #[error("submission {0} already has a final finding that this receipt agrees with")]
    ScoreAlreadyFinal(SubmissionId),
    /// The evaluation budget cannot pay another receipt.
    #[error("bounty {0}'s evaluation budget is spent")]
    BudgetExhausted(BountyId),

    // -- closing --
    /// The deadline has not passed.
    #[error("bounty {bounty}'s deadline {deadline} has not passed")]
    BeforeDeadline {
        /// The bounty.
        bounty: BountyId,
        /// Its deadline.
        deadline: TimestampMs,
    },
    /// Evaluations are pending and the grace period has not passed.
    #[error(
        "bounty {bounty} has {pending} submissions without a final score; it can close at {until}"
    )]
    PendingEvaluations {
        /// The bounty.
        bounty: BountyId,
        /// How many are pending.
        pending: u32,
        /// When the grace period ends.
        until: TimestampMs,
    },

    /// The bounty still takes submissions.
    #[error("bounty {0} has not ended its submissions (EndSubmissions comes first)")]
    SubmissionsNotEnded(BountyId),
    /// A final score may still be contested.
    #[error("bounty {bounty} has a final score whose dispute window is open until {until}")]
    DisputeWindowOpen {
        /// The bounty.
        bounty: BountyId,
        /// When the last window closes.
        until: TimestampMs,
    },

    // -- licences --
    /// No model has this weights hash.
    #[error("no model has weights hash {0}")]
    UnknownModel(Hash32),
    /// The model did not win a closed bounty.
    #[error("model {0} did not win a closed bounty and has no licence to sell")]
    NotAWinner(Hash32),
    /// The licence forbids commercial use.
    #[error("model {0}'s licence does not allow commercial use")]
    CommercialUseNotAllowed(Hash32),
    /// A split failed (cannot happen with well-formed state).
    #[error("split failed: {0}")]
    Split(#[from] SplitError),
}

impl Rejection {
    /// A stable snake_case code for scripts and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::WrongSeq { .. } => "wrong_seq",
            Rejection::BrokenChain { .. } => "broken_chain",
            Rejection::TimeWentBackwards { .. } => "time_went_backwards",
            Rejection::MessageTooLarge { .. } => "message_too_large",
            Rejection::Malformed(_) => "malformed",
            Rejection::Genesis(_) => "invalid_genesis",
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::BadSignature { .. } => "bad_signature",
            Rejection::BadNonce { .. } => "bad_nonce",
            Rejection::NotMinter => "not_minter",
            Rejection::NotOperator => "not_operator",
            Rejection::ZeroAmount => "zero_amount",
            Rejection::InsufficientBalance { .. } => "insufficient_balance",
            Rejection::Overflow { .. } => "overflow",
            Rejection::InvalidSpec(_) => "invalid_spec",
            Rejection::DeadlineNotInFuture { .. } => "deadline_not_in_future",
            Rejection::DerivationNotAllowed { .. } => "derivation_not_allowed",
            Rejection::UnknownBounty(_) => "unknown_bounty",
            Rejection::BountyNotOpen { .. } => "bounty_not_open",
            Rejection::NotSponsor(_) => "not_sponsor",
            Rejection::HasSubmissions(_) => "has_submissions",
            Rejection::AfterDeadline { .. } => "after_deadline",
            Rejection::SubmissionLimit { .. } => "submission_limit",
            Rejection::WeightsClaimed { .. } => "weights_claimed",
            Rejection::AlreadySubmitted(_) => "already_submitted",
            Rejection::ParentMismatch { .. } => "parent_mismatch",
            Rejection::BondTooSmall { .. } => "bond_too_small",
            Rejection::NotEvaluator(_) => "not_evaluator",
            Rejection::UnknownSubmission(_) => "unknown_submission",
            Rejection::WrongDataset { .. } => "wrong_dataset",
            Rejection::DigestMismatch => "digest_mismatch",
            Rejection::SelfEvaluation => "self_evaluation",
            Rejection::DuplicateReceipt(_) => "duplicate_receipt",
            Rejection::ScoreAlreadyFinal(_) => "score_already_final",
            Rejection::BudgetExhausted(_) => "budget_exhausted",
            Rejection::BeforeDeadline { .. } => "before_deadline",
            Rejection::PendingEvaluations { .. } => "pending_evaluations",
            Rejection::HiddenSetInUse(_) => "hidden_set_in_use",
            Rejection::SealedArtifact(_) => "sealed_artifact",
            Rejection::BaseModelSealed(_) => "base_model_sealed",
            Rejection::NotScoring { .. } => "not_scoring",
            Rejection::FileClaimed(_) => "file_claimed",
            Rejection::SponsorCannotSubmit(_) => "sponsor_cannot_submit",
            Rejection::WrongExampleCount { .. } => "wrong_example_count",
            Rejection::WeightsMismatch { .. } => "weights_mismatch",
            Rejection::NotAssigned(_) => "not_assigned",
            Rejection::DisputeWindowClosed { .. } => "dispute_window_closed",
            Rejection::NoDisputePanel(_) => "no_dispute_panel",
            Rejection::SubmissionsNotEnded(_) => "submissions_not_ended",
            Rejection::DisputeWindowOpen { .. } => "dispute_window_open",
            Rejection::UnknownModel(_) => "unknown_model",
            Rejection::NotAWinner(_) => "not_a_winner",
            Rejection::CommercialUseNotAllowed(_) => "commercial_use_not_allowed",
            Rejection::Split(_) => "split_failed",
            Rejection::BadSource { .. } => "bad_source",
            Rejection::InvalidLicence(_) => "invalid_licence",
        }
    }
}
