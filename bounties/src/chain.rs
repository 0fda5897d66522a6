//! An in-memory chain: a log and its state, appended to by signed messages.
//!
//! It is the sequencer's logic without storage: stamp, link, apply, keep. The
//! coordinator wraps the same steps around a durable store; tests, benches
//! and simulations use this directly. [`Wallet`] signs with the next nonce.

use crate::ids::TimestampMs;
use crate::keys::SecretKey;
use crate::log::Entry;
use crate::message::{Action, Message, SignedMessage};
use crate::rejection::Rejection;
use crate::replay::{ReplayError, replay};
use crate::state::{State, Verify};
use crate::{AccountId, Genesis};

/// A log held in memory with the state it produces.
#[derive(Clone, Debug)]
pub struct Chain {
    entries: Vec<Entry>,
    state: State,
}

impl Chain {
    /// A chain that starts with `genesis`, signed by `operator`.
    pub fn new(
        genesis: &Genesis,
        operator: &SecretKey,
        timestamp_ms: TimestampMs,
    ) -> Result<Chain, Rejection> {
        let entry = Entry::genesis(genesis, operator, timestamp_ms);
        let state = State::from_genesis(&entry, Verify::Signatures)?;
        Ok(Chain {
            entries: vec![entry],
            state,
        })
    }

    /// Rebuild a chain by replaying `entries` (a restart).
    pub fn from_entries(entries: Vec<Entry>, verify: Verify) -> Result<Chain, ReplayError> {
        let state = replay(&entries, verify, |_, _| {})?;
        Ok(Chain { entries, state })
    }

    /// Order `signed` at `timestamp_ms` (clamped to be monotonic), apply it,
    /// and keep it if it applies. A rejected message leaves the chain as it was.
    pub fn append(
        &mut self,
        signed: SignedMessage,
        timestamp_ms: TimestampMs,
    ) -> Result<&Entry, Rejection> {
        let head = self.state.head();
        let entry = Entry::next(
            head.seq,
            head.hash,
            timestamp_ms.max(head.timestamp),
            signed,
        );
        self.state.apply(&entry, Verify::Signatures)?;
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// The entries, genesis first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }
}

/// A key with its next nonce: signs messages in order.
#[derive(Clone, Debug)]
pub struct Wallet {
    key: SecretKey,
    nonce: u64,
    chain_id: String,
}

impl Wallet {
    /// A wallet for `key` on `chain_id` whose last used nonce is `nonce`.
    pub fn new(key: SecretKey, chain_id: &str, nonce: u64) -> Wallet {
        Wallet {
            key,
            nonce,
            chain_id: chain_id.to_owned(),
        }
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.key.account()
    }

    /// The key.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The message for `action` with the next nonce, without using the nonce up.
    pub fn message(&self, action: Action) -> Message {
        Message {
            chain_id: self.chain_id.clone(),
            signer: self.account(),
            nonce: self.nonce + 1,
            action,
        }
    }

    /// Sign `action` with the next nonce and use the nonce up.
    pub fn sign(&mut self, action: Action) -> SignedMessage {
        let signed = self.message(action).sign(&self.key);
        self.nonce += 1;
        signed
    }

    /// Give back the nonce of a message that was rejected.
    pub fn unuse_nonce(&mut self) {
        self.nonce -= 1;
    }
}
