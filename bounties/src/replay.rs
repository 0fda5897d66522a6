//! Replay: rebuild the state from a log and report the first entry that does
//! not apply. One loop for every reader of a log: [`Replayer`] is fed entries
//! chunk by chunk (the coordinator's recovery and audit read their store, a
//! remote audit reads pages over HTTP), and [`replay`] runs it over a slice.

use serde::{Deserialize, Serialize};

use crate::ids::Hash32;
use crate::log::Entry;
use crate::rejection::Rejection;
use crate::state::{State, Verify};

/// Where a replay stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The log is empty.
    #[error("the log is empty: no genesis")]
    Empty,
    /// An entry was rejected: the log diverges from the rules there.
    #[error("divergence at entry {seq}: {rejection}")]
    Rejected {
        /// Its seq.
        seq: u64,
        /// Why.
        rejection: Rejection,
    },
    /// The whole log applies, but the books do not balance.
    #[error("conservation fails after entry {seq}: {reason}")]
    Conservation {
        /// The last entry.
        seq: u64,
        /// What does not add up.
        reason: String,
    },
}

/// What a clean replay reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayReport {
    /// The chain id.
    pub chain_id: String,
    /// Entries checked, genesis included.
    pub entries: u64,
    /// The last entry's seq.
    pub head_seq: u64,
    /// Its hash.
    pub head_hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ok: {} entries on chain {} replay cleanly (signatures, links, rules, conservation)",
            self.entries, self.chain_id
        )?;
        writeln!(f, "head seq    {}", self.head_seq)?;
        writeln!(f, "head hash   {}", self.head_hash)?;
        write!(f, "state root  {}", self.state_root)
    }
}

/// Applies entries fed in order, from genesis, checking every hash link, time,
/// rule and (unless trusted) signature.
#[derive(Debug)]
pub struct Replayer {
    state: Option<State>,
    entries: u64,
    trust: Trust,
}

/// Whose signatures are taken as checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// Nobody's: every signature is checked.
    Nobody,
    /// Every entry's, genesis included (a log this process wrote itself).
    Everything,
    /// Entries `1..=seq` (a snapshot vouches for them); genesis is checked.
    Through(u64),
}

impl Default for Replayer {
    fn default() -> Self {
        Replayer::new(Verify::Signatures)
    }
}

impl Replayer {
    /// A replayer that checks signatures (`Verify::Signatures`) or not.
    pub fn new(verify: Verify) -> Replayer {
        Replayer {
            state: None,
            entries: 0,
            trust: match verify {
                Verify::Signatures => Trust::Nobody,
                Verify::Skip => Trust::Everything,
            },
        }
    }

    /// A replayer that continues from `state` (an image loaded at a
    /// snapshot), checking every signature it is fed.
    pub fn from_state(state: State) -> Replayer {
        Replayer {
            state: Some(state),
            entries: 0,
            trust: Trust::Nobody,
        }
    }

    /// Skip signature checks up to and including `seq` (genesis is always checked).
    pub fn trusting_through(mut self, seq: u64) -> Replayer {
        self.trust = Trust::Through(seq);
        self
    }

    /// Apply the next entries; `each` sees the state after every one.
    pub fn feed<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a Entry>,
        mut each: impl FnMut(&Entry, &State),
    ) -> Result<(), ReplayError> {
        for entry in entries {
            let rejected = |rejection| ReplayError::Rejected {
                seq: entry.seq,
                rejection,
            };
            let trusted = match self.trust {
                Trust::Nobody => false,
                Trust::Everything => true,
                Trust::Through(seq) => entry.seq != 0 && entry.seq <= seq,
            };
            let verify = if trusted {
                Verify::Skip
            } else {
                Verify::Signatures
            };
            match &mut self.state {
                None => self.state = Some(State::from_genesis(entry, verify).map_err(rejected)?),
                // apply checks the seq, the hash link, the time, the signature and every rule.
                Some(state) => state.apply(entry, verify).map_err(rejected)?,
            }
            self.entries += 1;
            each(entry, self.state.as_ref().expect("set above"));
        }
        Ok(())
    }

    /// The state so far (`None` before genesis).
    pub fn state(&self) -> Option<&State> {
        self.state.as_ref()
    }

    /// The next seq it expects (0 before genesis).
    pub fn next_seq(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.head().seq + 1)
    }

    /// The state reached.
    pub fn into_state(self) -> Result<State, ReplayError> {
        self.state.ok_or(ReplayError::Empty)
    }

    /// The state reached, with its books checked, and its report.
    pub fn finish(self) -> Result<(State, ReplayReport), ReplayError> {
        let entries = self.entries;
        let state = self.into_state()?;
        state
            .check_conservation()
            .map_err(|reason| ReplayError::Conservation {
                seq: state.head().seq,
                reason,
            })?;
        let report = ReplayReport {
            chain_id: state.chain_id().to_owned(),
            entries,
            head_seq: state.head().seq,
            head_hash: state.head().hash,
            state_root: state.root(),
        };
        Ok((state, report))
    }
}

/// Replay `entries` from genesis, checking every hash link, signature (with
/// [`Verify::Signatures`]) and rule; `each` sees the state after every entry.
pub fn replay<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    verify: Verify,
    each: impl FnMut(&Entry, &State),
) -> Result<State, ReplayError> {
    let mut replayer = Replayer::new(verify);
    replayer.feed(entries, each)?;
    replayer.into_state()
}
