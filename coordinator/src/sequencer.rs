//! The sequencer: the log's one writer.
//!
//! Requests queue on a channel; a dedicated thread takes everything waiting
//! (up to [`BATCH_MAX`]), stamps and applies each message to a copy of the
//! state, appends the accepted entries in one durable transaction (group
//! commit), and only then publishes the new state and acknowledges. A store
//! failure acknowledges nothing and keeps the old state. Signatures are
//! checked by the caller's task before queueing (they do not depend on the
//! state), so the single thread spends its time on ordering and storage.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::thread::JoinHandle;

use bounties::message::verify_signed;
use bounties::replay::{ReplayError, Replayer};
use bounties::{Entry, Rejection, SignedMessage, State, TimestampMs, Verify};
pub use bounties_api::Appended;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{LogStore, Snapshot, StoreError};

/// The most messages committed in one transaction.
pub const BATCH_MAX: usize = 1024;

/// Why a message was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The protocol refused it; nothing changed.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage failed; nothing was acknowledged (every message of the failed
    /// batch shares the one cause).
    #[error("storage failed: {0}")]
    Store(Arc<StoreError>),
    /// The sequencer is shutting down.
    #[error("the sequencer has stopped")]
    Stopped,
}

struct Pending {
    signed: SignedMessage,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// A handle to the running sequencer.
#[derive(Clone, Debug)]
pub struct Sequencer {
    tx: mpsc::Sender<Pending>,
    state: watch::Receiver<Arc<State>>,
}

impl Sequencer {
    /// Start the writer thread over `store`, whose log produced `state`,
    /// publishing `state` and each committed state after it through
    /// `publish`. A snapshot is recorded every `snapshot_every` entries. The
    /// thread ends once every handle is dropped and the queue is drained, or
    /// when the store says another writer took over.
    pub fn start(
        store: Arc<dyn LogStore>,
        state: State,
        publish: watch::Sender<Arc<State>>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        snapshot_every: u64,
    ) -> (Sequencer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * BATCH_MAX);
        publish.send_replace(Arc::new(state));
        let state_rx = publish.subscribe();
        let imager = start_imager(Arc::clone(&store));
        let handle = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || run(rx, store, publish, clock, metrics, snapshot_every, imager))
            .expect("spawning the sequencer thread");
        (
            Sequencer {
                tx,
                state: state_rx,
            },
            handle,
        )
    }

    /// Check `signed` and append it; returns once it is durable.
    pub async fn append(&self, signed: SignedMessage) -> Result<Appended, AppendError> {
        {
            let state = self.state.borrow();
            verify_signed(
                state.chain_id(),
                state.params().message_bytes_max,
                &signed.message,
                &signed.signature,
                Verify::Signatures,
            )?;
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { signed, reply })
            .await
            .map_err(|_| AppendError::Stopped)?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }
}

/// The thread that records snapshots: a committed state's root and image
/// are computed and written here, off the sequencer's path (the state is
/// persistent, so holding it costs nothing). One waits at most; a snapshot
/// due while one is being written is skipped (the next one comes).
fn start_imager(store: Arc<dyn LogStore>) -> std::sync::mpsc::SyncSender<Arc<State>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<State>>(1);
    std::thread::Builder::new()
        .name("snapshots".into())
        .spawn(move || {
            for state in rx {
                let head = state.head();
                let snapshot = Snapshot {
                    seq: head.seq,
                    hash: head.hash,
                    state_root: state.root(),
                };
                if let Err(e) = store.put_snapshot(snapshot, &state.to_image()) {
                    tracing::warn!(seq = head.seq, error = %e, "could not record a snapshot");
                }
            }
        })
        .expect("spawning the snapshot thread");
    tx
}

fn run(
    mut rx: mpsc::Receiver<Pending>,
    store: Arc<dyn LogStore>,
    state_tx: watch::Sender<Arc<State>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    snapshot_every: u64,
    imager: std::sync::mpsc::SyncSender<Arc<State>>,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut state = State::clone(&state_tx.borrow());
        let mut entries = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        for p in batch.drain(..) {
            let head = state.head();
            let now = TimestampMs(clock.now_ms()).max(head.timestamp);
            let entry = Entry::next(head.seq, head.hash, now, p.signed);
            // Signatures were checked before queueing; everything else is checked here.
            match state.apply(&entry, Verify::Skip) {
                Ok(()) => {
                    accepted.push((
                        p.reply,
                        Appended {
                            seq: entry.seq,
                            hash: state.head().hash,
                            timestamp_ms: now.0,
                        },
                    ));
                    entries.push(entry);
                }
                Err(r) => {
                    metrics.rejected(r.code());
                    let _ = p.reply.send(Err(AppendError::Rejected(r)));
                }
            }
        }
        if entries.is_empty() {
            continue;
        }
        let committed = match store.append(&entries) {
            Ok(()) => Ok(()),
            // A failed append may still have committed (the answer was lost
            // after the commit): the store's head says which.
            // Another coordinator is the writer now: nothing of this batch
            // was written, and nothing more may be. Stop.
            Err(e @ StoreError::Deposed { .. }) => {
                tracing::error!(error = %e, "deposed; the sequencer stops");
                let e = Arc::new(e);
                for (reply, _) in accepted {
                    let _ = reply.send(Err(AppendError::Store(Arc::clone(&e))));
                }
                return;
            }
            Err(e) => {
                tracing::error!(entries = entries.len(), error = %e, "append failed");
                let last = entries.last().expect("non-empty");
                match store.head() {
                    Ok(Some((seq, hash))) if seq == last.seq && hash == last.hash() => Ok(()),
                    Ok(head) if head.map(|(seq, _)| seq) == entries[0].seq.checked_sub(1) => {
                        Err(Arc::new(e))
                    }
                    // Neither all nor nothing as far as we can tell: acknowledge
                    // nothing, publish nothing, and stop; a restart replays
                    // whatever is durable.
                    other => {
                        tracing::error!(
                            head = ?other,
                            "the log's head is unknown after a failed append; the sequencer stops (restart to recover from the durable log)"
                        );
                        let e = Arc::new(e);
                        for (reply, _) in accepted {
                            let _ = reply.send(Err(AppendError::Store(Arc::clone(&e))));
                        }
                        return;
                    }
                }
            }
        };
        match committed {
            Ok(()) => {
                let crossed = |seq: u64| seq / snapshot_every.max(1);
                let before = entries[0].seq.saturating_sub(1);
                let after = state.head().seq;
                let state = Arc::new(state);
                if crossed(after) != crossed(before) {
                    let _ = imager.try_send(Arc::clone(&state));
                }
                metrics.committed(entries.len(), after);
                state_tx.send_replace(state);
                for (reply, appended) in accepted {
                    let _ = reply.send(Ok(appended));
                }
            }
            // Nothing was written: nothing is published or acknowledged.
            Err(e) => {
                for (reply, _) in accepted {
                    let _ = reply.send(Err(AppendError::Store(Arc::clone(&e))));
                }
            }
        }
    }
}

/// Rebuild the state from `store`. With a state image at the latest
/// snapshot, the image is loaded (checked against the snapshot's root, and
/// the stored entry there against its hash) and only the entries after it are
/// replayed, every signature verified: start-up costs the state and the tail,
/// not the whole log (`coordinator audit` replays all of it). Without one, or
/// with one that does not check out, the whole log is replayed, signatures
/// trusted up to the snapshot (this node verified them when it appended)
/// provided the hash chain and the state root there match.
pub fn recover(store: &dyn LogStore) -> Result<State, RecoverError> {
    let snapshot = store.snapshot()?;
    if let Some(snap) = snapshot
        && let Some(image) = store.image()?
    {
        let at = store.read(snap.seq, 1)?;
        if at.first().map(Entry::hash) != Some(snap.hash) {
            return Err(RecoverError::Snapshot { seq: snap.seq });
        }
        match State::from_image(&image, snap.state_root) {
            Ok(state) if state.head().seq == snap.seq && state.head().hash == snap.hash => {
                return catch_up(store, Replayer::from_state(state));
            }
            Ok(_) => tracing::warn!(
                seq = snap.seq,
                "the state image is not at its snapshot's head; replaying the whole log"
            ),
            Err(e) => tracing::warn!(
                seq = snap.seq,
                error = %e,
                "the state image does not check out; replaying the whole log"
            ),
        }
    }
    let mut replayer = Replayer::default().trusting_through(snapshot.map_or(0, |s| s.seq));
    crate::store::for_each_chunk(store, 0, RECOVER_CHUNK, |chunk| {
        // Up to the snapshot's entry, then the check that the log still
        // reaches the snapshot's hash and root, then the rest.
        let cut = snapshot.map_or(0, |snap| chunk.partition_point(|e| e.seq <= snap.seq));
        let (trusted, rest) = chunk.split_at(cut);
        replayer.feed(trusted, |_, _| {})?;
        if let (Some(snap), Some(last)) = (snapshot, trusted.last())
            && last.seq == snap.seq
        {
            let state = replayer.state().expect("fed");
            if state.head().hash != snap.hash || state.root() != snap.state_root {
                return Err(RecoverError::Snapshot { seq: snap.seq });
            }
        }
        replayer.feed(rest, |_, _| {})?;
        Ok(ControlFlow::Continue(()))
    })?;
    let state = replayer.into_state()?;
    if let Some(snap) = snapshot
        && state.head().seq < snap.seq
    {
        return Err(RecoverError::Snapshot { seq: snap.seq });
    }
    Ok(state)
}

/// The replayer's state with everything `store` holds after its head
/// applied: the tail after an image at start-up (every signature verified),
/// and what a front-end that follows the log applies as it grows (see
/// [`crate::cluster`]).
pub fn catch_up(store: &dyn LogStore, mut replayer: Replayer) -> Result<State, RecoverError> {
    let from = replayer.state().map_or(0, |s| s.head().seq + 1);
    crate::store::for_each_chunk(store, from, RECOVER_CHUNK, |chunk| {
        replayer.feed(&chunk, |_, _| {})?;
        Ok::<_, RecoverError>(ControlFlow::Continue(()))
    })?;
    Ok(replayer.into_state()?)
}

/// Entries read from the store at a time while recovering.
const RECOVER_CHUNK: usize = 8192;

impl From<ReplayError> for RecoverError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Empty => RecoverError::Empty,
            other => RecoverError::Replay(other),
        }
    }
}

/// Why the log could not be replayed at start-up.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No genesis.
    #[error("the log is empty: run `coordinator init` first")]
    Empty,
    /// An entry does not apply.
    #[error("{0}; run `coordinator audit`")]
    Replay(ReplayError),
    /// The log does not match the node's own snapshot.
    #[error(
        "the log does not match its snapshot at seq {seq}: it was altered; run `coordinator audit`"
    )]
    Snapshot {
        /// The snapshot's seq.
        seq: u64,
    },
}

#[cfg(test)]
mod tests {
    use bounties::chain::{Chain, Wallet};
    use bounties::{AccountId, Amount, Genesis, Params, SecretKey};

    use super::*;
    use crate::store::memory::MemoryLog;

    fn chain(n: u64) -> (Chain, SecretKey) {
        let operator = SecretKey::from_seed([1; 32]);
        let alice = SecretKey::from_seed([2; 32]);
        let genesis = Genesis {
            chain_id: "t".into(),
            params: Params::default(),
            minter: operator.account(),
            operator: operator.account(),
            balances: vec![(alice.account(), Amount(1_000_000))],
        };
        let mut chain = Chain::new(&genesis, &operator, TimestampMs(1)).unwrap();
        let mut w = Wallet::new(alice.clone(), "t", 0);
        for i in 0..n {
            let to = AccountId([(i % 7) as u8 + 10; 32]);
            chain
                .append(
                    w.sign(bounties::Action::Transfer {
                        to,
                        amount: Amount(1),
                    }),
                    TimestampMs(2 + i),
                )
                .unwrap();
        }
        (chain, alice)
    }

    #[test]
    fn recovery_uses_a_snapshot_and_detects_a_log_that_no_longer_matches_it() {
        let (chain, _) = chain(50);
        let store = MemoryLog::default();
        store.append(chain.entries()).unwrap();
        let at = chain.entries()[30].clone();
        let mut state = State::from_genesis(&chain.entries()[0], Verify::Skip).unwrap();
        for e in &chain.entries()[1..=30] {
            state.apply(e, Verify::Skip).unwrap();
        }
        // An image that does not decode: the whole log is replayed instead.
        store
            .put_snapshot(
                Snapshot {
                    seq: 30,
                    hash: at.hash(),
                    state_root: state.root(),
                },
                b"not an image",
            )
            .unwrap();
        let recovered = recover(&store).unwrap();
        assert_eq!(recovered.root(), chain.state().root());

        // A snapshot that does not match the log (the log was altered).
        store
            .put_snapshot(
                Snapshot {
                    seq: 40,
                    hash: at.hash(),
                    state_root: state.root(),
                },
                &state.to_image(),
            )
            .unwrap();
        assert!(matches!(
            recover(&store),
            Err(RecoverError::Snapshot { seq: 40 })
        ));
    }

    #[test]
    fn recovery_from_an_image_replays_only_the_tail_and_verifies_it() {
        let (chain, _) = chain(50);
        let mut entries = chain.entries().to_vec();
        // Alter an entry before the snapshot: start-up from the image never
        // reads it (the audit does), so it reaches the head all the same.
        entries[10].timestamp_ms.0 += 1;
        let mut state = State::from_genesis(&entries[0], Verify::Skip).unwrap();
        for e in &chain.entries()[1..=30] {
            state.apply(e, Verify::Skip).unwrap();
        }
        let snapshot = Snapshot {
            seq: 30,
            hash: entries[30].hash(),
            state_root: state.root(),
        };
        let store = MemoryLog::default();
        store.append(&entries).unwrap();
        store.put_snapshot(snapshot, &state.to_image()).unwrap();
        assert_eq!(recover(&store).unwrap().root(), chain.state().root());

        // A forged signature after the snapshot is found.
        let mut forged = chain.entries().to_vec();
        forged[50].signature = bounties::Signature([7; 64]);
        let store = MemoryLog::default();
        store.append(&forged).unwrap();
        store.put_snapshot(snapshot, &state.to_image()).unwrap();
        assert!(matches!(
            recover(&store),
            Err(RecoverError::Replay(ReplayError::Rejected { seq: 50, .. }))
        ));

        // An image that is not the snapshot's state: the whole log is
        // replayed instead, which finds the broken link after the altered entry.
        let store = MemoryLog::default();
        store.append(&entries).unwrap();
        let other = chain.state().to_image();
        store.put_snapshot(snapshot, &other).unwrap();
        assert!(matches!(
            recover(&store),
            Err(RecoverError::Replay(ReplayError::Rejected { seq: 11, .. }))
        ));
    }

    #[test]
    fn catching_up_applies_exactly_what_follows_the_head() {
        let (log, _) = chain(40);
        let store = MemoryLog::default();
        store.append(log.entries()).unwrap();
        let mut state = State::from_genesis(&log.entries()[0], Verify::Skip).unwrap();
        for e in &log.entries()[1..=20] {
            state.apply(e, Verify::Skip).unwrap();
        }
        let caught = catch_up(&store, Replayer::from_state(state.clone())).unwrap();
        assert_eq!(caught.root(), log.state().root());
        // Nothing more to apply: the same state.
        assert_eq!(
            catch_up(&store, Replayer::from_state(caught.clone()))
                .unwrap()
                .root(),
            caught.root()
        );
        // A state from another history does not continue this log.
        let (other, _) = chain(25);
        let mut forked = State::from_genesis(&other.entries()[0], Verify::Skip).unwrap();
        forked.apply(&other.entries()[1], Verify::Skip).unwrap();
        let mut alt = other.entries()[2].clone();
        alt.timestamp_ms.0 += 1;
        assert!(forked.apply(&alt, Verify::Skip).is_ok());
        assert!(matches!(
            catch_up(&store, Replayer::from_state(forked)),
            Err(RecoverError::Replay(ReplayError::Rejected { seq: 3, .. }))
        ));
    }

    #[test]
    fn entries_after_the_snapshot_are_verified() {
        let (chain, _) = chain(5);
        let store = MemoryLog::default();
        let mut entries = chain.entries().to_vec();
        // Forge the last entry's signature; the hash chain still links (it is last).
        entries[5].signature = bounties::Signature([7; 64]);
        store.append(&entries).unwrap();
        assert!(matches!(
            recover(&store),
            Err(RecoverError::Replay(ReplayError::Rejected { seq: 5, .. }))
        ));
    }
}
