//! The behaviour every [`LogStore`] promises, as one suite that each
//! implementation runs (memory and SQLite now; PostgreSQL next): appends are
//! all or nothing and must continue the log, reads return exactly what was
//! appended in order, the head follows the last entry, snapshots round-trip,
//! and (for durable stores) a reopened store holds everything acknowledged.
//! Panics with the first broken promise.

use bounties::{Entry, Hash32, Signature, TimestampMs};

use super::{LogStore, Snapshot, StoreError};

/// A chain-shaped entry (the store does not check links; content is arbitrary).
fn entry(seq: u64, bytes: usize) -> Entry {
    Entry {
        seq,
        prev_hash: Hash32([seq as u8; 32]),
        timestamp_ms: TimestampMs(1_000 + seq),
        message: vec![(seq % 251) as u8; bytes],
        signature: Signature([7; 64]),
    }
}

/// Run the suite on a fresh, empty store from `open`; `reopen` (for durable
/// stores) opens the same store again, as after a restart.
pub fn check(open: &dyn Fn() -> Box<dyn LogStore>, reopen: Option<&dyn Fn() -> Box<dyn LogStore>>) {
    let store = open();
    assert_eq!(store.head().unwrap(), None, "a fresh store is empty");
    assert!(store.read(0, 10).unwrap().is_empty());
    assert_eq!(store.snapshot().unwrap(), None);
    assert_eq!(store.image().unwrap(), None);

    // Appends must continue the log; a refused batch leaves nothing behind.
    let refused = [entry(1, 10)];
    assert!(matches!(
        store.append(&refused),
        Err(StoreError::NotNext {
            expected: 0,
            got: 1
        })
    ));
    let gapped = [entry(0, 10), entry(2, 10)];
    assert!(store.append(&gapped).is_err(), "a gap inside a batch");
    assert_eq!(store.head().unwrap(), None, "a refused batch wrote nothing");

    let batch: Vec<Entry> = (0..5).map(|s| entry(s, 100 * s as usize)).collect();
    store.append(&batch).unwrap();
    store.append(&[]).unwrap();
    let more: Vec<Entry> = (5..300).map(|s| entry(s, 3)).collect();
    store.append(&more).unwrap();
    let all: Vec<Entry> = batch.iter().chain(&more).cloned().collect();
    assert_eq!(store.head().unwrap(), Some((299, all[299].hash())));
    // A repeated append is refused.
    assert!(matches!(
        store.append(&[entry(3, 1)]),
        Err(StoreError::NotNext {
            expected: 300,
            got: 3
        })
    ));

    // Reads: exactly the entries, in order, bounded by the limit.
    assert_eq!(store.read(0, 1000).unwrap(), all);
    assert_eq!(store.read(2, 3).unwrap(), all[2..5]);
    assert_eq!(store.read(299, 10).unwrap(), all[299..]);
    assert!(store.read(300, 10).unwrap().is_empty());
    assert!(store.read(u64::MAX, 10).unwrap().is_empty());
    assert!(store.read(0, 0).unwrap().is_empty());

    let snap = Snapshot {
        seq: 200,
        hash: all[200].hash(),
        state_root: Hash32([9; 32]),
    };
    store.put_snapshot(snap, b"image at 200").unwrap();
    assert_eq!(store.snapshot().unwrap(), Some(snap));
    assert_eq!(
        store.image().unwrap().as_deref(),
        Some(&b"image at 200"[..])
    );
    let later = Snapshot { seq: 250, ..snap };
    let big = vec![0xa5; 3 << 20];
    store.put_snapshot(later, &big).unwrap();
    assert_eq!(
        store.snapshot().unwrap(),
        Some(later),
        "the latest snapshot wins"
    );
    assert!(
        store.image().unwrap() == Some(big.clone()),
        "with its image"
    );

    if let Some(reopen) = reopen {
        drop(store);
        let again = reopen();
        assert_eq!(
            again.read(0, 1000).unwrap(),
            all,
            "acknowledged entries survive"
        );
        assert_eq!(again.head().unwrap(), Some((299, all[299].hash())));
        assert_eq!(again.snapshot().unwrap(), Some(later));
        assert!(again.image().unwrap() == Some(big), "the image survives");
        again.append(&[entry(300, 1)]).unwrap();
        assert_eq!(again.head().unwrap().map(|h| h.0), Some(300));
    }
}
