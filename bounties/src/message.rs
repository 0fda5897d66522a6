//! Signed messages: who acts, with which nonce, on which chain, doing what.
//!
//! The variants of [`Action`] are encoded by position: append new ones at the
//! end, never reorder (the golden vectors in the tests fail loudly if you do).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{self, DOMAIN_MESSAGE};
use crate::ids::{AccountId, Amount, BountyId, Hash32, Score, SubmissionId};
use crate::keys::Verify;
use crate::keys::{SecretKey, Signature, verify_strict};
use crate::rejection::Rejection;
use crate::spec::{BountySpec, LicenceTerms};

/// Why an evaluator could not score a submission. Each reason follows from
/// the bytes alone, so honest evaluators agree on it bit for bit.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Unscorable {
    /// The coordinator holds no file with the submission's file hash.
    Missing,
    /// The file is not a model the evaluator can read (header, tensors, values).
    Malformed,
    /// The model is outside the bounty's limits (family, parameter count).
    OverLimits,
    /// The file's weights hash is not the one the submission claims.
    WeightsMismatch {
        /// The weights hash the evaluator computed from the file.
        computed: Hash32,
    },
}

impl Unscorable {
    /// A short name for logs and pages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Unscorable::Missing => "missing",
            Unscorable::Malformed => "malformed",
            Unscorable::OverLimits => "over_limits",
            Unscorable::WeightsMismatch { .. } => "weights_mismatch",
        }
    }
}

/// What an evaluator found when it scored the bytes it downloaded.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// The model was scored.
    Scored {
        /// The weights hash computed from the file scored: binds the score to the bytes.
        weights_hash: Hash32,
        /// The score, fixed point.
        score: Score,
        /// Each example's score, fixed point, in dataset order: exactly the
        /// bounty's `hidden_examples` of them.
        example_scores: Vec<i64>,
        /// [`encoding::example_scores_digest`] of `example_scores`.
        example_digest: Hash32,
    },
    /// The file could not be scored, and why.
    Unscorable(Unscorable),
}

/// The part of a verdict receipts must agree on bit for bit: the per-example
/// scores enter through their digest.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "finding")]
pub enum Finding {
    /// Scored: these weights, this score, these per-example scores.
    Scored {
        /// The weights hash.
        weights_hash: Hash32,
        /// The score.
        score: Score,
        /// The digest of the per-example scores.
        example_digest: Hash32,
    },
    /// Unscorable for this reason.
    Unscorable(Unscorable),
}

impl Finding {
    /// The score, when scored.
    pub fn score(&self) -> Option<Score> {
        match self {
            Finding::Scored { score, .. } => Some(*score),
            Finding::Unscorable(_) => None,
        }
    }
}

impl Verdict {
    /// What agreement is judged on.
    pub fn finding(&self) -> Finding {
        match self {
            Verdict::Scored {
                weights_hash,
                score,
                example_digest,
                ..
            } => Finding::Scored {
                weights_hash: *weights_hash,
                score: *score,
                example_digest: *example_digest,
            },
            Verdict::Unscorable(why) => Finding::Unscorable(*why),
        }
    }
}

/// What an evaluator attests: its verdict on one submission on the hidden set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The submission scored.
    pub submission: SubmissionId,
    /// The dataset hash it was scored on (the bounty's hidden set).
    pub dataset: Hash32,
    /// The evaluator build that computed it.
    pub evaluator_build: Hash32,
    /// What it found.
    pub verdict: Verdict,
}

/// Everything an account can ask the ledger to do.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Create tokens (the minter only).
    Mint {
        /// Who receives them.
        to: AccountId,
        /// How many.
        amount: Amount,
    },
    /// Move tokens.
    Transfer {
        /// Who receives them.
        to: AccountId,
        /// How many.
        amount: Amount,
    },
    /// Open a bounty, escrowing its reward and evaluation budget.
    OpenBounty {
        /// What is asked for.
        spec: Box<BountySpec>,
    },
    /// Add to an open bounty's reward (anyone).
    TopUp {
        /// The bounty.
        bounty: BountyId,
        /// How much.
        amount: Amount,
    },
    /// Cancel a bounty that has no submissions (its sponsor only).
    CancelBounty {
        /// The bounty.
        bounty: BountyId,
    },
    /// Submit a model.
    Submit {
        /// The bounty.
        bounty: BountyId,
        /// SHA-256 of the uploaded file.
        file_hash: Hash32,
        /// The model's weights hash.
        weights_hash: Hash32,
        /// The weights hash it was fine-tuned from.
        parent_weights_hash: Option<Hash32>,
    },
    /// Register as an evaluator (or add to the bond).
    RegisterEvaluator {
        /// The bond to lock.
        bond: Amount,
    },
    /// Post an evaluation receipt.
    PostReceipt(Receipt),
    /// Close a bounty after its deadline: judge, pay, refund, unseal (anyone).
    CloseBounty {
        /// The bounty.
        bounty: BountyId,
    },
    /// Buy a commercial licence for a winning model.
    BuyLicense {
        /// The model's weights hash.
        model: Hash32,
    },
    /// End a bounty's submissions once its deadline has passed (anyone; the
    /// scheduler sends it): draws each submission's evaluators and releases
    /// the hidden set to them.
    EndSubmissions {
        /// The bounty.
        bounty: BountyId,
    },
    /// Publish a whole model (a pretrained base) under a licence, so bounties
    /// can name it as their base and its publisher is paid what flows up to it.
    PublishModel(Box<Publication>),
}

/// A whole model put on the ledger outside any bounty: a base to fine-tune.
/// The front end takes it only for a file its signer uploaded whose weights
/// hash is the one claimed (the state machine cannot see bytes).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Publication {
    /// SHA-256 of the model file.
    pub file_hash: Hash32,
    /// Its weights hash: the model's identity, claimed here first.
    pub weights_hash: Hash32,
    /// Where it comes from (name, version, upstream licence), 1 to
    /// [`SOURCE_BYTES_MAX`] printable bytes.
    pub source: String,
    /// The terms it is licensed and may be fine-tuned under.
    pub licence: LicenceTerms,
}

/// The longest [`Publication::source`].
pub const SOURCE_BYTES_MAX: usize = 256;

impl Action {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Mint { .. } => "mint",
            Action::Transfer { .. } => "transfer",
            Action::OpenBounty { .. } => "open_bounty",
            Action::TopUp { .. } => "top_up",
            Action::CancelBounty { .. } => "cancel_bounty",
            Action::Submit { .. } => "submit",
            Action::RegisterEvaluator { .. } => "register_evaluator",
            Action::PostReceipt(_) => "post_receipt",
            Action::CloseBounty { .. } => "close_bounty",
            Action::BuyLicense { .. } => "buy_license",
            Action::EndSubmissions { .. } => "end_submissions",
            Action::PublishModel(_) => "publish_model",
        }
    }
}

/// A message: the unit a signer signs and the sequencer orders.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The chain this message is for; another chain rejects it.
    pub chain_id: String,
    /// Who signs it.
    pub signer: AccountId,
    /// The signer's previous nonce + 1.
    pub nonce: u64,
    /// What to do.
    pub action: Action,
}

/// A message's canonical bytes with its signature: what clients send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedMessage {
    /// The canonical bytes of a [`Message`].
    #[serde(with = "hex_bytes")]
    pub message: Vec<u8>,
    /// The signer's signature over [`encoding::signing_payload`].
    pub signature: Signature,
}

/// Decode a message and check its size, chain and (with [`Verify::Signatures`])
/// signature: everything about it that does not depend on the state, so a
/// server can check it in parallel before the sequencer orders it.
pub fn verify_signed(
    chain_id: &str,
    message_bytes_max: u32,
    bytes: &[u8],
    signature: &Signature,
    verify: Verify,
) -> Result<Message, Rejection> {
    if bytes.len() > message_bytes_max as usize {
        return Err(Rejection::MessageTooLarge {
            bytes: bytes.len(),
            max: message_bytes_max,
        });
    }
    let message: Message =
        encoding::decode(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if message.chain_id != chain_id {
        return Err(Rejection::WrongChain {
            expected: chain_id.to_owned(),
            got: message.chain_id,
        });
    }
    if verify == Verify::Signatures {
        let payload = encoding::signing_payload(DOMAIN_MESSAGE, chain_id, bytes);
        verify_strict(&message.signer, &payload, signature).map_err(|_| {
            Rejection::BadSignature {
                signer: message.signer,
            }
        })?;
    }
    Ok(message)
}

impl Message {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Encode and sign with `key` (which should be the `signer`'s).
    pub fn sign(&self, key: &SecretKey) -> SignedMessage {
        let message = self.encode();
        let signature = key.sign(&encoding::signing_payload(
            DOMAIN_MESSAGE,
            &self.chain_id,
            &message,
        ));
        SignedMessage { message, signature }
    }
}

/// Serde helper: bytes as lowercase hex.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write bytes as hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Read bytes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
