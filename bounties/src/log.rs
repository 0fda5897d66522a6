//! The hash-chained log: entries, their hashes, and chain verification.
//!
//! The sequencer is the only writer: it assigns `seq` and a monotonic
//! `timestamp_ms`, and links each entry to the previous one by hash. An
//! entry's hash covers every field, so altering any stored byte breaks the
//! chain at that entry.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{self, DOMAIN_ENTRY, DOMAIN_GENESIS};
use crate::genesis::Genesis;
use crate::ids::{Hash32, TimestampMs};
use crate::keys::{SecretKey, Signature};
use crate::message::{SignedMessage, hex_bytes};

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log; genesis is 0.
    pub seq: u64,
    /// The previous entry's hash; zero for genesis.
    pub prev_hash: Hash32,
    /// When the sequencer accepted it.
    pub timestamp_ms: TimestampMs,
    /// The canonical bytes of a message (of the genesis at seq 0).
    #[serde(with = "hex_bytes")]
    pub message: Vec<u8>,
    /// The signer's signature (the operator's at seq 0).
    pub signature: Signature,
}

impl Entry {
    /// The genesis entry, signed by the operator.
    pub fn genesis(genesis: &Genesis, operator: &SecretKey, timestamp_ms: TimestampMs) -> Entry {
        let message = encoding::encode(genesis);
        let payload = encoding::signing_payload(DOMAIN_GENESIS, &genesis.chain_id, &message);
        Entry {
            seq: 0,
            prev_hash: Hash32::ZERO,
            timestamp_ms,
            message,
            signature: operator.sign(&payload),
        }
    }

    /// The entry that follows `prev` (seq and hash) carrying `signed`.
    pub fn next(
        prev_seq: u64,
        prev_hash: Hash32,
        timestamp_ms: TimestampMs,
        signed: SignedMessage,
    ) -> Entry {
        Entry {
            seq: prev_seq + 1,
            prev_hash,
            timestamp_ms,
            message: signed.message,
            signature: signed.signature,
        }
    }

    /// The canonical bytes (what storage keeps).
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// This entry's hash: SHA-256 over every field.
    pub fn hash(&self) -> Hash32 {
        encoding::tagged_hash(DOMAIN_ENTRY, &[&self.encode()])
    }
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A gap or repeat in sequence numbers.
    #[error("entry at position {index} has seq {got}, expected {expected}")]
    Seq {
        /// Position in the slice.
        index: usize,
        /// Expected seq.
        expected: u64,
        /// Seq found.
        got: u64,
    },
    /// A broken hash link.
    #[error("entry {seq} does not link to the hash of the entry before it")]
    Link {
        /// The entry whose prev hash is wrong.
        seq: u64,
    },
    /// Time went backwards.
    #[error("entry {seq} has a timestamp earlier than the entry before it")]
    Time {
        /// The entry.
        seq: u64,
    },
}

/// Check sequence numbers, hash links and timestamps of consecutive entries
/// (signatures and state are checked by replaying them; see [`crate::replay`]).
pub fn verify_chain(entries: &[Entry]) -> Result<(), ChainError> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    if first.seq == 0 && first.prev_hash != Hash32::ZERO {
        return Err(ChainError::Link { seq: 0 });
    }
    let mut prev: Option<(u64, Hash32, TimestampMs)> = None;
    for (index, entry) in entries.iter().enumerate() {
        if let Some((seq, hash, time)) = prev {
            if entry.seq != seq + 1 {
                return Err(ChainError::Seq {
                    index,
                    expected: seq + 1,
                    got: entry.seq,
                });
            }
            if entry.prev_hash != hash {
                return Err(ChainError::Link { seq: entry.seq });
            }
            if entry.timestamp_ms < time {
                return Err(ChainError::Time { seq: entry.seq });
            }
        }
        prev = Some((entry.seq, entry.hash(), entry.timestamp_ms));
    }
    Ok(())
}
