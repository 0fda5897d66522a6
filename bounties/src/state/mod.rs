//! The pure state machine: `apply(state, entry) -> Result<state', Rejection>`.
//!
//! State is a function of the log alone. `apply` is synchronous, reads no
//! clock (time is the entry's timestamp) and no storage, and iterates only
//! ordered maps. It is all or nothing: the maps are persistent (`imbl`), so
//! [`State::apply`] works on an O(1) copy and keeps it only on success; a
//! rejected entry leaves the state exactly as it was.

mod bounty;
mod close;
mod evaluation;
mod image;
mod ledger;
mod licence;
mod publish;
pub mod records;
mod views;

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use imbl::{OrdMap, OrdSet};
use sha2::{Digest, Sha256};

use crate::encoding::{self, DOMAIN_GENESIS, DOMAIN_STATE};
use crate::genesis::{Genesis, Params};
use crate::ids::{AccountId, Amount, BountyId, Hash32, SubmissionId, TimestampMs};
use crate::keys::verify_strict;
use crate::log::Entry;
use crate::message::{Action, Message};
use crate::rejection::Rejection;
use records::{ArtifactUse, Bounty, Evaluator, Licence, Model, ReceiptRecord, Submission};

pub use image::{IMAGE_VERSION, ImageError};
pub use views::{AccountView, LeaderboardRow, Provenance};

pub use crate::keys::Verify;

/// The tip of the log the state has applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Head {
    /// The last applied seq.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Its timestamp.
    pub timestamp: TimestampMs,
}

/// Tokens created and destroyed since genesis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Supply {
    /// Minted, including genesis balances.
    pub minted: Amount,
    /// Burned (forfeited bonds).
    pub burned: Amount,
}

/// The whole ledger state.
#[derive(Clone, Debug)]
pub struct State {
    chain_id: String,
    params: Params,
    minter: AccountId,
    operator: AccountId,
    head: Head,
    supply: Supply,
    balances: OrdMap<AccountId, Amount>,
    nonces: OrdMap<AccountId, u64>,
    bounties: OrdMap<BountyId, Bounty>,
    submissions: OrdMap<SubmissionId, Submission>,
    /// (bounty, submission): a bounty's submissions in log order.
    bounty_submissions: OrdSet<(BountyId, SubmissionId)>,
    /// (bounty, miner) -> how many submissions.
    submission_counts: OrdMap<(BountyId, AccountId), u32>,
    models: OrdMap<Hash32, Model>,
    /// (parent, child) weights hashes.
    children: OrdSet<(Hash32, Hash32)>,
    evaluators: OrdMap<AccountId, Evaluator>,
    receipts: OrdMap<(SubmissionId, AccountId), ReceiptRecord>,
    /// The per-example scores of each final score, for the bootstrap test.
    /// Not hashed into the state root: the final score's digest commits to them.
    final_examples: OrdMap<SubmissionId, Arc<Vec<i64>>>,
    licences: OrdMap<u64, Licence>,
    licences_by_licensee: OrdSet<(AccountId, u64)>,
    licences_by_model: OrdSet<(Hash32, u64)>,
    /// What the log names each artifact hash as (the read rule's index).
    /// Derived from bounties and submissions, so not hashed into the root.
    artifact_uses: OrdMap<Hash32, ArtifactUse>,
}

/// The context one entry is applied in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub seq: u64,
    pub now: TimestampMs,
    pub signer: AccountId,
    /// The entry's signature: with `EndSubmissions` (the operator's only) it
    /// seeds the bounty's draws, unknown to anyone else until it is in the log.
    pub signature: crate::keys::Signature,
}

impl State {
    /// The state after the genesis entry.
    pub fn from_genesis(entry: &Entry, verify: Verify) -> Result<State, Rejection> {
        if entry.seq != 0 {
            return Err(Rejection::WrongSeq {
                expected: 0,
                got: entry.seq,
            });
        }
        if entry.prev_hash != Hash32::ZERO {
            return Err(Rejection::BrokenChain {
                expected: Hash32::ZERO,
                got: entry.prev_hash,
            });
        }
        let genesis: Genesis =
            encoding::decode(&entry.message).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let minted = genesis.check()?;
        if verify == Verify::Signatures {
            let payload =
                encoding::signing_payload(DOMAIN_GENESIS, &genesis.chain_id, &entry.message);
            verify_strict(&genesis.operator, &payload, &entry.signature).map_err(|_| {
                Rejection::BadSignature {
                    signer: genesis.operator,
                }
            })?;
        }
        let balances = genesis
            .balances
            .iter()
            .filter(|(_, a)| !a.is_zero())
            .cloned()
            .collect();
        Ok(State {
            chain_id: genesis.chain_id,
            params: genesis.params,
            minter: genesis.minter,
            operator: genesis.operator,
            head: Head {
                seq: 0,
                hash: entry.hash(),
                timestamp: entry.timestamp_ms,
            },
            supply: Supply {
                minted,
                burned: Amount::ZERO,
            },
            balances,
            nonces: OrdMap::new(),
            bounties: OrdMap::new(),
            submissions: OrdMap::new(),
            bounty_submissions: OrdSet::new(),
            submission_counts: OrdMap::new(),
            models: OrdMap::new(),
            children: OrdSet::new(),
            evaluators: OrdMap::new(),
            receipts: OrdMap::new(),
            final_examples: OrdMap::new(),
            licences: OrdMap::new(),
            licences_by_licensee: OrdSet::new(),
            licences_by_model: OrdSet::new(),
            artifact_uses: OrdMap::new(),
        })
    }

    /// Apply `entry`. On a rejection the state is unchanged.
    pub fn apply(&mut self, entry: &Entry, verify: Verify) -> Result<(), Rejection> {
        let mut next = self.clone();
        next.apply_in_place(entry, verify)?;
        *self = next;
        Ok(())
    }

    /// The functional form: the state after `entry`, leaving `self` as it is.
    pub fn applied(&self, entry: &Entry, verify: Verify) -> Result<State, Rejection> {
        let mut next = self.clone();
        next.apply_in_place(entry, verify)?;
        Ok(next)
    }

    /// Decode and authenticate an entry's message against this state without
    /// applying it: the checks a sequencer runs before it orders a message.
    pub fn check_message(
        &self,
        bytes: &[u8],
        signature: &crate::keys::Signature,
        verify: Verify,
    ) -> Result<Message, Rejection> {
        let message = crate::message::verify_signed(
            &self.chain_id,
            self.params.message_bytes_max,
            bytes,
            signature,
            verify,
        )?;
        let expected = self.nonce(&message.signer) + 1;
        if message.nonce != expected {
            return Err(Rejection::BadNonce {
                expected,
                got: message.nonce,
            });
        }
        Ok(message)
    }

    fn apply_in_place(&mut self, entry: &Entry, verify: Verify) -> Result<(), Rejection> {
        let expected = self.head.seq + 1;
        if entry.seq != expected {
            return Err(Rejection::WrongSeq {
                expected,
                got: entry.seq,
            });
        }
        if entry.prev_hash != self.head.hash {
            return Err(Rejection::BrokenChain {
                expected: self.head.hash,
                got: entry.prev_hash,
            });
        }
        if entry.timestamp_ms < self.head.timestamp {
            return Err(Rejection::TimeWentBackwards {
                last: self.head.timestamp,
                got: entry.timestamp_ms,
            });
        }
        let message = self.check_message(&entry.message, &entry.signature, verify)?;
        let ctx = Ctx {
            seq: entry.seq,
            now: entry.timestamp_ms,
            signer: message.signer,
            signature: entry.signature,
        };
        self.nonces.insert(message.signer, message.nonce);
        match message.action {
            Action::Mint { to, amount } => self.mint(&ctx, to, amount)?,
            Action::Transfer { to, amount } => self.transfer(&ctx, to, amount)?,
            Action::OpenBounty { spec } => self.open_bounty(&ctx, spec)?,
            Action::TopUp { bounty, amount } => self.top_up(&ctx, bounty, amount)?,
            Action::CancelBounty { bounty } => self.cancel_bounty(&ctx, bounty)?,
            Action::Submit {
                bounty,
                file_hash,
                weights_hash,
                parent_weights_hash,
            } => self.submit(&ctx, bounty, file_hash, weights_hash, parent_weights_hash)?,
            Action::RegisterEvaluator { bond } => self.register_evaluator(&ctx, bond)?,
            Action::PostReceipt(receipt) => self.post_receipt(&ctx, receipt)?,
            Action::CloseBounty { bounty } => self.close_bounty(&ctx, bounty)?,
            Action::BuyLicense { model } => self.buy_licence(&ctx, model)?,
            Action::EndSubmissions { bounty } => self.end_submissions(&ctx, bounty)?,
            Action::PublishModel(p) => self.publish_model(&ctx, *p)?,
        }
        self.head = Head {
            seq: entry.seq,
            hash: entry.hash(),
            timestamp: entry.timestamp_ms,
        };
        Ok(())
    }

    /// The state root: SHA-256 over the canonical encoding of the whole state.
    pub fn root(&self) -> Hash32 {
        /// Streams borsh straight into the hasher: no buffer per record.
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl Hashing {
            fn put<T: BorshSerialize + ?Sized>(&mut self, value: &T) {
                value.serialize(self).expect("hashing cannot fail");
            }
            fn map<K: BorshSerialize + Ord + Clone, V: BorshSerialize + Clone>(
                &mut self,
                m: &OrdMap<K, V>,
            ) {
                self.put(&(m.len() as u64));
                for (k, v) in m {
                    self.put(k);
                    self.put(v);
                }
            }
            fn set<K: BorshSerialize + Ord + Clone>(&mut self, s: &OrdSet<K>) {
                self.put(&(s.len() as u64));
                for k in s {
                    self.put(k);
                }
            }
        }
        let mut h = Hashing(Sha256::new());
        h.put(&(DOMAIN_STATE.len() as u32));
        h.0.update(DOMAIN_STATE);
        h.put(&(&self.chain_id, &self.params, &self.minter, &self.operator));
        h.put(&(&self.head, &self.supply));
        h.map(&self.balances);
        h.map(&self.nonces);
        h.map(&self.bounties);
        h.map(&self.submissions);
        h.set(&self.bounty_submissions);
        h.map(&self.submission_counts);
        h.map(&self.models);
        h.set(&self.children);
        h.map(&self.evaluators);
        h.map(&self.receipts);
        h.map(&self.licences);
        h.set(&self.licences_by_licensee);
        h.set(&self.licences_by_model);
        Hash32(h.0.finalize().into())
    }

    /// Check conservation: balances + escrows + bonds = minted - burned.
    /// O(state); for tests, audits and debug assertions.
    pub fn check_conservation(&self) -> Result<(), String> {
        let add = |a: u128, b: Amount| a.checked_add(b.0).ok_or("sum overflows");
        let balances = self.balances.values().try_fold(0u128, |s, a| add(s, *a))?;
        let escrows = self.bounties.values().try_fold(0u128, |s, b| {
            add(
                add(add(s, b.reward_escrow)?, b.budget_escrow)?,
                b.deposit_escrow,
            )
        })?;
        let bonds = self
            .evaluators
            .values()
            .try_fold(0u128, |s, e| add(s, e.bond))?;
        let held = balances
            .checked_add(escrows)
            .and_then(|x| x.checked_add(bonds))
            .ok_or("sum overflows")?;
        let supply = self
            .supply
            .minted
            .0
            .checked_sub(self.supply.burned.0)
            .ok_or("burned more than minted")?;
        if held != supply {
            return Err(format!(
                "balances {balances} + escrows {escrows} + bonds {bonds} = {held}, but minted - burned = {supply}"
            ));
        }
        Ok(())
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }
    /// The protocol parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// The minter.
    pub fn minter(&self) -> AccountId {
        self.minter
    }
    /// The operator.
    pub fn operator(&self) -> AccountId {
        self.operator
    }
    /// The last applied entry.
    pub fn head(&self) -> Head {
        self.head
    }
    /// Minted and burned totals.
    pub fn supply(&self) -> Supply {
        self.supply
    }
}
