//! The genesis: the chain id, the protocol parameters, the minter and operator keys, initial balances.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Amount};
use crate::spec::BPS_WHOLE;

/// The longest chain id.
pub const CHAIN_ID_BYTES_MAX: usize = 64;

/// Protocol parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The least bond an evaluator must hold to post receipts.
    pub min_evaluator_bond: Amount,
    /// The share of its bond an evaluator forfeits for a receipt that a dispute panel contradicts.
    pub slash_bps: u16,
    /// How long after a deadline a close waits for pending evaluations.
    pub close_grace_ms: u64,
    /// The largest message, in bytes.
    pub message_bytes_max: u32,
    /// How long after a score becomes final any other evaluator may contest it.
    pub dispute_window_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_evaluator_bond: Amount(1_000),
            slash_bps: 2_000,
            close_grace_ms: 60 * 60 * 1000,
            // The largest valid message is a receipt of the most hidden
            // examples (8 bytes each, 800 kB); nothing legitimate needs more.
            message_bytes_max: 1024 * 1024,
            dispute_window_ms: 10 * 60 * 1000,
        }
    }
}

/// The first entry's content.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id every message must name.
    pub chain_id: String,
    /// Protocol parameters.
    pub params: Params,
    /// The only account that may mint.
    pub minter: AccountId,
    /// The coordinator's account: signs genesis and scheduler messages.
    pub operator: AccountId,
    /// Initial balances, sorted by account, each account once.
    pub balances: Vec<(AccountId, Amount)>,
}

/// Why a genesis is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Bad chain id.
    #[error("chain id must be 1 to {CHAIN_ID_BYTES_MAX} characters of [a-z0-9-._]")]
    ChainId,
    /// Unsorted or repeated balances.
    #[error("initial balances must be sorted by account with each account once")]
    Balances,
    /// Initial supply overflows.
    #[error("initial balances overflow the token supply")]
    Overflow,
    /// Parameters out of range.
    #[error("parameters out of range: slash-bps at most 10000, message-bytes-max at least 4096")]
    Params,
}

/// Whether a chain id is well formed.
pub fn chain_id_is_valid(chain_id: &str) -> bool {
    !chain_id.is_empty()
        && chain_id.len() <= CHAIN_ID_BYTES_MAX
        && chain_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
}

impl Genesis {
    /// Check the genesis on its own; returns the initial supply.
    pub fn check(&self) -> Result<Amount, GenesisError> {
        if !chain_id_is_valid(&self.chain_id) {
            return Err(GenesisError::ChainId);
        }
        if self.params.slash_bps > BPS_WHOLE || self.params.message_bytes_max < 4096 {
            return Err(GenesisError::Params);
        }
        if self.balances.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(GenesisError::Balances);
        }
        self.balances
            .iter()
            .try_fold(Amount::ZERO, |sum, (_, a)| sum.checked_add(*a))
            .ok_or(GenesisError::Overflow)
    }
}
