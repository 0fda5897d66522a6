//! Replay: rebuild the state from a log and report the first entry that does not apply.

use crate::log::Entry;
use crate::rejection::Rejection;
use crate::state::{State, Verify};

/// Where a replay stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The log is empty.
    #[error("the log is empty: no genesis")]
    Empty,
    /// An entry was rejected.
    #[error("entry {seq} does not apply: {rejection}")]
    Rejected {
        /// Its seq.
        seq: u64,
        /// Why.
        rejection: Rejection,
    },
}

/// Replay `entries` from genesis, checking every hash link, signature (with
/// [`Verify::Signatures`]) and rule; `each` sees the state after every entry.
pub fn replay<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    verify: Verify,
    mut each: impl FnMut(&Entry, &State),
) -> Result<State, ReplayError> {
    let mut entries = entries.into_iter();
    let genesis = entries.next().ok_or(ReplayError::Empty)?;
    let mut state =
        State::from_genesis(genesis, verify).map_err(|rejection| ReplayError::Rejected {
            seq: genesis.seq,
            rejection,
        })?;
    each(genesis, &state);
    for entry in entries {
        state
            .apply(entry, verify)
            .map_err(|rejection| ReplayError::Rejected {
                seq: entry.seq,
                rejection,
            })?;
        each(entry, &state);
    }
    Ok(state)
}
