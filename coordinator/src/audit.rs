//! `coordinator audit`: replay a log from scratch — every hash link, signature,
//! rule and balance — and report the first entry that does not hold.

use bounties::{Entry, Hash32, Rejection, State, Verify};
use serde::Serialize;

use crate::store::LogStore;

/// A log that replays cleanly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
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

/// Where a log diverges.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading failed.
    #[error("could not read the log: {0}")]
    Source(String),
    /// The log is empty.
    #[error("the log is empty")]
    Empty,
    /// An entry breaks the chain or the rules.
    #[error("divergence at entry {seq}: {rejection}")]
    Diverges {
        /// The first bad entry.
        seq: u64,
        /// What is wrong with it.
        rejection: Rejection,
    },
    /// The log replays, but not to the state root the server reports.
    #[error(
        "the log replays to state root {computed} at seq {seq}, but the server reports {served}"
    )]
    Root {
        /// Where.
        seq: u64,
        /// Replayed.
        computed: Hash32,
        /// Served.
        served: Hash32,
    },
}

/// Replays entries fed in order, chunk by chunk.
#[derive(Debug, Default)]
pub struct Auditor {
    state: Option<State>,
    entries: u64,
}

impl Auditor {
    /// Check the next entries.
    pub fn feed(&mut self, entries: &[Entry]) -> Result<(), AuditError> {
        for entry in entries {
            let diverges = |rejection| AuditError::Diverges {
                seq: entry.seq,
                rejection,
            };
            match &mut self.state {
                None => {
                    self.state =
                        Some(State::from_genesis(entry, Verify::Signatures).map_err(diverges)?);
                }
                // apply checks the seq, the hash link, the time, the signature and every rule.
                Some(state) => state.apply(entry, Verify::Signatures).map_err(diverges)?,
            }
            self.entries += 1;
        }
        Ok(())
    }

    /// The last seq checked.
    pub fn head_seq(&self) -> Option<u64> {
        self.state.as_ref().map(|s| s.head().seq)
    }

    /// The report.
    pub fn finish(self) -> Result<AuditReport, AuditError> {
        let state = self.state.ok_or(AuditError::Empty)?;
        state
            .check_conservation()
            .map_err(|e| AuditError::Source(format!("conservation fails: {e}")))?;
        Ok(AuditReport {
            chain_id: state.chain_id().to_owned(),
            entries: self.entries,
            head_seq: state.head().seq,
            head_hash: state.head().hash,
            state_root: state.root(),
        })
    }
}

/// Audit the log in a store.
pub fn audit_store(store: &dyn LogStore) -> Result<AuditReport, AuditError> {
    let mut auditor = Auditor::default();
    let mut next = 0;
    loop {
        let chunk = store
            .read(next, 8192)
            .map_err(|e| AuditError::Source(e.to_string()))?;
        let Some(last) = chunk.last() else { break };
        next = last.seq + 1;
        auditor.feed(&chunk)?;
    }
    auditor.finish()
}

/// Audit a running coordinator over HTTP: read its head and root, replay
/// its log up to that head, and compare.
pub fn audit_url(url: &str) -> Result<AuditReport, AuditError> {
    let client = bounties::client::Client::new(url);
    let get = |path: &str| -> Result<serde_json::Value, AuditError> {
        client
            .get(path)
            .map_err(|e| AuditError::Source(format!("GET {}{path}: {e}", client.url())))
    };
    let info = client
        .info()
        .map_err(|e| AuditError::Source(format!("/v1/info: {e}")))?;
    let (head, served) = (info.head.seq, info.state_root);
    let mut auditor = Auditor::default();
    let mut next = 0u64;
    while next <= head {
        let page = get(&format!("/v1/log?from={next}&limit=1000"))?;
        let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone())
            .map_err(|e| AuditError::Source(format!("/v1/log: {e}")))?;
        let entries: Vec<Entry> = entries.into_iter().filter(|e| e.seq <= head).collect();
        let Some(last) = entries.last() else {
            return Err(AuditError::Source(format!(
                "the server reports head {head} but its log ends before {next}"
            )));
        };
        next = last.seq + 1;
        auditor.feed(&entries)?;
    }
    let report = auditor.finish()?;
    if report.state_root != served {
        return Err(AuditError::Root {
            seq: head,
            computed: report.state_root,
            served,
        });
    }
    Ok(report)
}
