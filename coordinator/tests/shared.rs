//! What front-ends on one PostgreSQL database share beyond the log: one
//! replay guard (a signed request accepted by one is refused by all, after
//! restarts too) and one writer at a time.

use std::time::Duration;

use bounties::Signature;
use coordinator::auth::{Refused, SeenRequests};
use coordinator::shared::seen::{KEEP_MS, SharedSeen};
use coordinator::store::postgres::PostgresLog;
use coordinator::store::postgres::scratch::ScratchDatabase;
use coordinator::store::{LogStore, StoreError};

fn rows(log: &PostgresLog, runtime: &tokio::runtime::Runtime) -> i64 {
    runtime
        .block_on(log.database().run(|pool| async move {
            let client = pool.get().await.unwrap();
            Ok(client
                .query_one("SELECT COUNT(*) FROM seen_requests", &[])
                .await
                .unwrap()
                .get::<_, i64>(0))
        }))
        .unwrap()
}

#[test]
fn a_signed_request_accepted_by_one_front_end_is_refused_by_every_other_and_after_restarts() {
    let db = ScratchDatabase::create().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = (
        PostgresLog::open(db.url()).unwrap(),
        PostgresLog::open(db.url()).unwrap(),
    );
    let (guard_a, guard_b) = (SharedSeen::new(a.database()), SharedSeen::new(b.database()));
    let now = 1_800_000_000_000;
    let sig = Signature([7; 64]);
    runtime.block_on(guard_a.first_use(sig, now, now)).unwrap();
    for guard in [&guard_a, &guard_b] {
        let again = runtime.block_on(guard.first_use(sig, now, now));
        assert!(matches!(again, Err(Refused::Replayed)), "{again:?}");
    }
    // Another signature is its own request, taken once.
    runtime
        .block_on(guard_b.first_use(Signature([8; 64]), now, now))
        .unwrap();
    drop((guard_a, guard_b, a, b));

    // A restarted front-end remembers both.
    let c = PostgresLog::open(db.url()).unwrap();
    let guard_c = SharedSeen::new(c.database());
    for s in [7, 8] {
        let again = runtime.block_on(guard_c.first_use(Signature([s; 64]), now, now));
        assert!(matches!(again, Err(Refused::Replayed)), "{again:?}");
    }
    assert_eq!(rows(&c, &runtime), 2);

    // Rows go once no front-end's window could take their request: a fresh
    // guard prunes on its first use.
    let later = now + KEEP_MS + 1;
    let d = PostgresLog::open(db.url()).unwrap();
    let guard_d = SharedSeen::new(d.database());
    runtime
        .block_on(guard_d.first_use(Signature([9; 64]), later, later))
        .unwrap();
    assert_eq!(rows(&d, &runtime), 1, "the two old rows are gone");
}

#[test]
fn one_coordinator_at_a_time_serves_a_database() {
    let db = ScratchDatabase::create().unwrap();
    let first = PostgresLog::open(db.url()).unwrap();
    first.become_writer(Duration::ZERO).unwrap();
    let second = PostgresLog::open(db.url()).unwrap();
    let refused = second
        .become_writer(Duration::from_millis(300))
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("another coordinator is serving"),
        "{refused}"
    );
    // Once the first goes (its connection with it), the second may serve.
    drop(first);
    second.become_writer(Duration::from_secs(10)).unwrap();
}

/// A chain-shaped entry (the store checks seqs, not content).
fn entry(seq: u64) -> bounties::Entry {
    bounties::Entry {
        seq,
        prev_hash: bounties::Hash32([seq as u8; 32]),
        timestamp_ms: bounties::TimestampMs(seq),
        message: vec![1, 2, 3],
        signature: Signature([7; 64]),
    }
}

#[test]
fn a_writer_that_lost_its_lock_cannot_commit_after_another_took_over() {
    let db = ScratchDatabase::create().unwrap();
    let old = PostgresLog::open(db.url()).unwrap();
    assert_eq!(old.become_writer(Duration::ZERO).unwrap(), 1);
    old.append(&[entry(0)]).unwrap();

    // A partition, as the database sees it: the old writer's lock session
    // ends, while the old writer itself goes on with its pool.
    let ended = db.end_lock_sessions().unwrap();
    assert_eq!(ended, 1);
    let new = PostgresLog::open(db.url()).unwrap();
    assert_eq!(new.become_writer(Duration::from_secs(10)).unwrap(), 2);

    // The old writer's late batch is refused, and nothing of it is written.
    let late = old.append(&[entry(1), entry(2)]).unwrap_err();
    assert!(
        matches!(
            late,
            StoreError::Deposed {
                epoch: 1,
                current: 2
            }
        ),
        "{late}"
    );
    assert_eq!(new.head().unwrap().map(|h| h.0), Some(0));
    new.append(&[entry(1)]).unwrap();
    assert_eq!(old.head().unwrap().map(|h| h.0), Some(1));
}
