//! The coordinator's HTTP API under `/v1`, as types both sides link: the
//! server serialises exactly these, and every client reads them strictly (a
//! missing or unknown field is an error, never a default), so a renamed
//! field fails to compile or fails loudly instead of printing a balance of 0.
//!
//! Route by route (`GET` unless said):
//!
//! | route | request | response |
//! | --- | --- | --- |
//! | `/v1/info` | | [`Info`] |
//! | `POST /v1/messages` | [`PostMessage`] | [`Appended`] |
//! | `/v1/log?from=&limit=` | [`LogQuery`] | [`LogPage`] |
//! | `/v1/bounties` | | [`BountyList`] |
//! | `/v1/bounties/{id}` | | [`BountyPage`] |
//! | `/v1/bounties/{id}/leaderboard` | | [`Leaderboard`] |
//! | `/v1/accounts/{account}` | | [`AccountPage`] |
//! | `/v1/models/{weights_hash}` | | [`ModelPage`] |
//! | `/v1/licences?licensee=` or `?model=` | [`LicenceQuery`] | [`LicenceList`] |
//! | `/v1/jobs` | | [`JobList`] |
//! | `POST /v1/jobs/lease` (signed) | | [`LeaseGrant`] |
//! | `PUT /v1/artifacts/{sha256}` (signed) | the bytes | [`Uploaded`] |
//! | `GET /v1/artifacts/{sha256}` (signed when sealed) | | the bytes |
//! | `/healthz` | | [`Health`] |
//!
//! Every error is an [`ErrorBody`] with a stable code.

use bounties::state::records::{Bounty, Licence, ReceiptRecord, Submission};
use bounties::state::{AccountView, LeaderboardRow, Provenance};
use bounties::{AccountId, BountyId, BountySpec, Entry, Hash32, Params, SubmissionId};
use serde::{Deserialize, Serialize};

/// `GET /v1/info`: the chain, its head and the server's clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Info {
    /// The chain id every message must name.
    pub chain_id: String,
    /// The head of the log.
    pub head: Head,
    /// The state root at the head.
    pub state_root: Hash32,
    /// The operator (signs `EndSubmissions` and `CloseBounty`).
    pub operator: AccountId,
    /// The minter.
    pub minter: AccountId,
    /// The protocol parameters fixed at genesis.
    pub params: Params,
    /// The server's clock (signed requests must be within its window).
    pub server_time_ms: u64,
    /// The coordinator's version.
    pub version: String,
}

/// `GET /healthz`: whether this front-end writes the log, and how far
/// behind the log it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `"ok"`.
    pub status: String,
    /// `"leader"` (its sequencer writes the log) or `"follower"` (it passes
    /// writes to the leader and applies the log as it grows).
    pub role: String,
    /// The writer's term this front-end last took or saw (0: one front-end
    /// alone on its store).
    pub epoch: u64,
    /// The last entry this front-end serves.
    pub head_seq: u64,
    /// The last entry in the store.
    pub store_head_seq: u64,
    /// Entries in the store this front-end does not serve yet.
    pub lag: u64,
}

/// The head of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Its seq.
    pub seq: u64,
    /// Its entry hash.
    pub hash: Hash32,
    /// Its timestamp.
    pub timestamp_ms: u64,
}

/// `POST /v1/messages`: one signed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The message's canonical bytes, hex.
    pub message: String,
    /// The ed25519 signature over them, 128 hex characters.
    pub signature: String,
}

/// Where an acknowledged message landed: committed durably before this answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appended {
    /// Its seq.
    pub seq: u64,
    /// Its entry hash.
    pub hash: Hash32,
    /// Its timestamp.
    pub timestamp_ms: u64,
}

/// The query of `GET /v1/log`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// The first seq wanted (0: genesis).
    #[serde(default)]
    pub from: u64,
    /// At most this many entries (the server caps it, and caps a page's bytes).
    pub limit: Option<usize>,
}

/// `GET /v1/log`: entries in seq order from `from`; empty past the head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPage {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// `GET /v1/bounties`: every bounty, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyList {
    /// The bounties.
    pub bounties: Vec<Bounty>,
}

/// `GET /v1/bounties/{id}`: a bounty, its submissions and its leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyPage {
    /// The bounty.
    pub bounty: Bounty,
    /// Its submissions with their receipts, in submission order.
    pub submissions: Vec<SubmissionReceipts>,
    /// Its leaderboard.
    pub leaderboard: Vec<LeaderboardRow>,
}

/// A submission with the receipts posted for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionReceipts {
    /// The submission.
    pub submission: Submission,
    /// Its receipts, in evaluator order.
    pub receipts: Vec<ReceiptRecord>,
}

/// `GET /v1/bounties/{id}/leaderboard`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaderboard {
    /// The bounty.
    pub bounty: BountyId,
    /// Its rows, ranked.
    pub rows: Vec<LeaderboardRow>,
}

/// `GET /v1/accounts/{account}`: balance, nonce, evaluator record and licences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPage {
    /// The account's public state.
    pub account: AccountView,
    /// The licences it bought.
    pub licences: Vec<Licence>,
}

/// `GET /v1/models/{weights_hash}`: everything known about a model.
pub type ModelPage = Provenance;

/// The query of `GET /v1/licences`: exactly one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceQuery {
    /// The buyer's account.
    pub licensee: Option<String>,
    /// The model's weights hash.
    pub model: Option<String>,
}

/// `GET /v1/licences`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceList {
    /// The licences, in the order bought.
    pub licences: Vec<Licence>,
}

/// `GET /v1/jobs`: the leases in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobList {
    /// The leases.
    pub leases: Vec<ActiveLease>,
}

/// A lease in force, as anyone may see it (no token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveLease {
    /// The submission being scored.
    pub submission: SubmissionId,
    /// Its bounty.
    pub bounty: BountyId,
    /// Who holds the lease.
    pub evaluator: AccountId,
    /// When it lapses.
    pub expires_at_ms: u64,
}

/// Why an evaluator holds a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Drawn for the submission's panel.
    Panel,
    /// Drawn for its dispute panel.
    Dispute,
    /// Checking a final finding inside its dispute window: post only to contest.
    Audit,
}

/// One lease: a submission to score, and the sealed files it opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// The token naming it.
    pub token: String,
    /// Who holds it.
    pub evaluator: AccountId,
    /// Why.
    pub kind: JobKind,
    /// The submission to score.
    pub submission: SubmissionId,
    /// Its bounty.
    pub bounty: BountyId,
    /// The model file to download.
    pub model: Hash32,
    /// The weights hash the submission claims: the file must hold exactly these.
    pub weights_hash: Hash32,
    /// The hidden set to score it on.
    pub dataset: Hash32,
    /// When the lease lapses.
    pub expires_at_ms: u64,
}

/// `POST /v1/jobs/lease`: the lease and the bounty's spec (metric, limits,
/// example count); `404 no_job` when there is nothing to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseGrant {
    /// The lease.
    pub lease: Lease,
    /// Its bounty's spec.
    pub spec: BountySpec,
}

/// What an uploaded artifact was checked to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A model file (it has an architecture tag and exactly its tensors).
    Model,
    /// A dataset file (it has a task tag and reads as a dataset).
    Dataset,
}

/// `PUT /v1/artifacts/{sha256}`: `201` when these bytes were stored now,
/// `200` when they already were (the signer is recorded as an uploader either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uploaded {
    /// Its SHA-256, as named in the path.
    pub hash: Hash32,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this upload stored the bytes (false: they were already stored).
    pub stored: bool,
    /// What it was checked to be (only when this upload stored it).
    #[serde(deserialize_with = "bounties::json::present")]
    pub kind: Option<ArtifactKind>,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// A stable code (a `Rejection` code, or one of the HTTP layer's).
    pub code: String,
    /// What a person should read.
    pub message: String,
}
