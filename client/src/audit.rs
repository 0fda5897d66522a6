//! An audit of a running coordinator over HTTP: read its head and state
//! root, replay its log page by page up to that head with every signature
//! checked (`bounties::replay::Replayer`, the loop recovery uses too), and
//! compare the root it reaches with the one served.

use bounties::Hash32;
use bounties::replay::{ReplayError, ReplayReport, Replayer};

use crate::{Client, ClientError};

/// Entries asked for per page (the server may send fewer).
const PAGE: usize = 1000;

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The coordinator could not be read.
    #[error("could not read the log: {0}")]
    Read(#[from] ClientError),
    /// The log ends before the head the server reports.
    #[error("the server reports head {head} but its log ends before {next}")]
    Truncated {
        /// The served head.
        head: u64,
        /// The first seq missing.
        next: u64,
    },
    /// An entry breaks the chain or the rules, or the books do not balance.
    #[error(transparent)]
    Diverges(#[from] ReplayError),
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

/// Audit the coordinator at `client`'s URL.
pub fn audit(client: &Client) -> Result<ReplayReport, AuditError> {
    let info = client.info()?;
    let (head, served) = (info.head.seq, info.state_root);
    let mut replayer = Replayer::default();
    while replayer.next_seq() <= head {
        let next = replayer.next_seq();
        let page = client.log(next, PAGE)?;
        let entries: Vec<_> = page.entries.iter().filter(|e| e.seq <= head).collect();
        if entries.is_empty() {
            return Err(AuditError::Truncated { head, next });
        }
        replayer.feed(entries, |_, _| {})?;
    }
    let (_, report) = replayer.finish()?;
    if report.state_root != served {
        return Err(AuditError::Root {
            seq: head,
            computed: report.state_root,
            served,
        });
    }
    Ok(report)
}
