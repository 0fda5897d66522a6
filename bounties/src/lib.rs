//! The model-bounties protocol: ids, canonical encoding, keys, messages, the
//! hash-chained log, the pure state machine, judging, splits and the
//! architecture specs that miner and evaluator share.
//!
//! **Architecture invariant:** this crate does no IO, reads no clock, spawns
//! no thread and uses no unseeded randomness. Time comes from log entries,
//! randomness from ChaCha seeded with log data, and every map it hashes or
//! iterates is ordered. `clippy.toml` and the workspace purity test enforce it.

pub mod arch;
pub mod auth;
pub mod chain;
pub mod encoding;
pub mod genesis;
pub mod ids;
pub mod json;
pub mod judging;
pub mod keys;
pub mod log;
pub mod message;
pub mod panel;
pub mod rejection;
pub mod replay;
pub mod seeded;
pub mod spec;
pub mod split;
pub mod state;
pub mod tensorfile;
pub mod weights;

pub use genesis::{Genesis, Params};
pub use ids::{AccountId, Amount, BountyId, Hash32, Score, SubmissionId, TimestampMs};
pub use keys::{SecretKey, Signature};
pub use log::Entry;
pub use message::{Action, Message, Receipt, SignedMessage};
pub use rejection::Rejection;
pub use spec::BountySpec;
pub use state::{State, Verify};
