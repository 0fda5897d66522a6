//! Storage that proves "all or nothing": every `LogStore` passes the one
//! conformance suite, and a node over a store that fails an append
//! acknowledges nothing it did not make durable, publishes nothing it did not
//! acknowledge, and restarts from exactly the durable prefix.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bounties::{Action, Amount, Message, Params, SecretKey, SignedMessage};
use coordinator::artifacts::faulty::FaultyArtifacts;
use coordinator::artifacts::{ArtifactStore, LocalArtifacts, conformance as artifact_conformance};
use coordinator::clock::{Clock, SystemClock};
use coordinator::datadir::{self, DataDir};
use coordinator::node::{Config, Node, NodeError};
use coordinator::staging::Staging;
use coordinator::store::faulty::{Fault, FaultyLog};
use coordinator::store::memory::MemoryLog;
use coordinator::store::postgres::PostgresLog;
use coordinator::store::postgres::scratch::ScratchDatabase;
use coordinator::store::sqlite::SqliteLog;
use coordinator::store::{LogLocation, LogStore, StoreError, conformance};

#[test]
fn every_log_store_keeps_the_promises_of_the_trait() {
    conformance::check(&|| Box::new(MemoryLog::default()), None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    let open = || -> Box<dyn LogStore> { Box::new(SqliteLog::open(&path).unwrap()) };
    conformance::check(&open, Some(&open));
}

#[test]
fn the_postgres_log_keeps_the_promises_of_the_trait() {
    let db = ScratchDatabase::create().unwrap();
    let open = || -> Box<dyn LogStore> { Box::new(PostgresLog::open(db.url()).unwrap()) };
    conformance::check(&open, Some(&open));
}

#[test]
fn every_artifact_store_keeps_the_promises_of_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("artifacts");
    let staging = Staging::open(&dir.path().join("staging")).unwrap();
    let open = || -> Box<dyn ArtifactStore> { Box::new(LocalArtifacts::open(&root).unwrap()) };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(artifact_conformance::check(&open, &open, &staging));
}

/// Where a test chain keeps its log: each fault test runs on both.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A chain with alice funded, its log in SQLite or a scratch PostgreSQL
/// database, the node's store wrapped.
struct Chain {
    _dir: tempfile::TempDir,
    data: DataDir,
    location: LogLocation,
    alice: SecretKey,
    bob: SecretKey,
    runtime: tokio::runtime::Runtime,
    db: Option<ScratchDatabase>,
}

impl Chain {
    fn on(backend: Backend) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir(dir.path().join("data"));
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(ScratchDatabase::create().unwrap()),
        };
        let location = match &db {
            None => LogLocation::DataDir,
            Some(db) => LogLocation::Postgres(db.url().to_owned()),
        };
        let names = vec!["alice".to_owned(), "bob".to_owned()];
        let now = SystemClock.now_ms();
        let init = datadir::init(
            &data,
            &location,
            "faults",
            Params::default(),
            &names,
            Amount(1_000),
            now,
        )
        .unwrap();
        let key = |n: &str| {
            let (_, _, path) = init.dev.iter().find(|(name, ..)| name == n).unwrap();
            DataDir::read_key(path).unwrap()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Chain {
            alice: key("alice"),
            bob: key("bob"),
            _dir: dir,
            data,
            location,
            runtime,
            db,
        }
    }

    fn store(&self) -> Arc<dyn LogStore> {
        datadir::open_log(&self.data, &self.location).unwrap()
    }

    fn node(&self, store: Arc<dyn LogStore>) -> Arc<Node> {
        let artifacts = Arc::new(LocalArtifacts::open(&self.data.artifacts()).unwrap());
        let staging = Staging::open(&self.data.tmp()).unwrap();
        let _guard = self.runtime.enter();
        Node::start(
            store,
            artifacts,
            staging,
            Arc::new(SystemClock),
            None,
            Config::default(),
        )
        .unwrap()
    }

    fn transfer(&self, nonce: u64, amount: u128) -> SignedMessage {
        Message {
            chain_id: "faults".into(),
            signer: self.alice.account(),
            nonce,
            action: Action::Transfer {
                to: self.bob.account(),
                amount: Amount(amount),
            },
        }
        .sign(&self.alice)
    }

    fn append(&self, node: &Node, m: SignedMessage) -> Result<u64, NodeError> {
        self.runtime.block_on(node.append(m)).map(|a| a.seq)
    }
}

#[test]
fn an_append_the_store_refused_is_neither_acknowledged_nor_published_and_can_be_sent_again() {
    for backend in BACKENDS {
        refused_append(Chain::on(backend));
    }
}

fn refused_append(c: Chain) {
    let faulty = Arc::new(FaultyLog::new(c.store(), 2, Fault::BeforeWrite));
    let node = c.node(Arc::clone(&faulty) as Arc<dyn LogStore>);
    assert_eq!(c.append(&node, c.transfer(1, 10)).unwrap(), 1);
    let before = node.state();

    let second = c.transfer(2, 20);
    let err = c.append(&node, second.clone()).unwrap_err();
    assert!(matches!(err, NodeError::Store(_)), "{err}");
    // Nothing published: the same head, root and balances; the nonce unused.
    let after = node.state();
    assert_eq!(after.head(), before.head());
    assert_eq!(after.root(), before.root());
    assert_eq!(after.nonce(&c.alice.account()), 1);
    assert_eq!(faulty.inner().head().unwrap().map(|h| h.0), Some(1));

    // The very same signed message goes in on the next try.
    assert_eq!(c.append(&node, second).unwrap(), 2);
    assert_eq!(node.state().balance(&c.bob.account()), Amount(1_030));

    // A restart replays exactly the durable log to the same state.
    let live = node.state().root();
    let restarted = c.node(faulty.inner());
    assert_eq!(restarted.state().root(), live);
}

#[test]
fn an_append_that_committed_but_lost_its_answer_is_acknowledged_once_and_survives_a_restart() {
    for backend in BACKENDS {
        committed_append_lost_answer(Chain::on(backend));
    }
}

fn committed_append_lost_answer(c: Chain) {
    let faulty = Arc::new(FaultyLog::new(c.store(), 2, Fault::AfterWrite));
    let node = c.node(Arc::clone(&faulty) as Arc<dyn LogStore>);
    assert_eq!(c.append(&node, c.transfer(1, 10)).unwrap(), 1);
    // The store wrote it, then failed: the head shows it is durable, so it is
    // acknowledged and published (a retry would find the nonce used).
    let second = c.transfer(2, 20);
    assert_eq!(c.append(&node, second.clone()).unwrap(), 2);
    let err = c.append(&node, second).unwrap_err();
    assert!(
        matches!(err, NodeError::Rejected(ref r) if r.code() == "bad_nonce"),
        "{err}"
    );
    assert_eq!(c.append(&node, c.transfer(3, 5)).unwrap(), 3);
    let live = node.state().root();
    let restarted = c.node(faulty.inner());
    assert_eq!(restarted.state().root(), live);
    assert_eq!(restarted.state().balance(&c.bob.account()), Amount(1_035));
}

/// A coordinator whose first artifact put fails with `fault`, and alice's
/// upload of a fresh model to it: the server, the bytes, their file and the error.
fn failed_upload(
    fault: Fault,
    seed: &str,
) -> (
    support::Served,
    Vec<u8>,
    std::path::PathBuf,
    bounties_client::ClientError,
) {
    let s = support::serve_over(&["alice"], Params::default(), Config::default(), |real| {
        Arc::new(FaultyArtifacts::new(real, 1, fault))
    });
    let bytes = support::model(seed);
    let path = support::tmp_path(&s, "model");
    std::fs::write(&path, &bytes).unwrap();
    let err = s
        .client
        .upload(s.key("alice"), &s.chain_id, &path)
        .unwrap_err();
    (s, bytes, path, err)
}

#[test]
fn an_upload_the_artifact_store_failed_is_not_acknowledged_and_grants_nothing() {
    let (s, bytes, _, err) = failed_upload(Fault::BeforeWrite, "a");
    assert_eq!(err.code(), Some("internal"), "{err}");
    assert!(!err.to_string().contains("/srv/"), "{err}");
    // Nothing stored, nobody recorded, and nothing left in the temp dir.
    let hash = bounties::encoding::sha256(&bytes);
    let artifacts = &s.node.artifacts;
    let (size, owners) = s.runtime.block_on(async {
        (
            artifacts.size(hash).await.unwrap(),
            artifacts.owners(hash).await.unwrap(),
        )
    });
    assert_eq!(size, None);
    assert!(owners.is_empty(), "{owners:?}");
    assert!(support::files_under(&s.data_dir().tmp()).is_empty());
    // So a submission naming it is refused, and the log does not move.
    let head = s.node.state().head();
    let weights_hash = bounties::tensorfile::TensorFile::parse(&bytes)
        .unwrap()
        .weights_hash();
    let refused = s
        .client
        .act(
            s.key("alice"),
            Action::Submit {
                bounty: bounties::BountyId(1),
                file_hash: hash,
                weights_hash,
                parent_weights_hash: None,
            },
        )
        .unwrap_err();
    assert_eq!(refused.code(), Some("not_uploaded"), "{refused}");
    assert_eq!(s.node.state().head(), head);
}

#[test]
fn an_upload_stored_before_its_answer_was_lost_is_kept_with_its_owner_and_a_retry_succeeds() {
    let (s, bytes, path, err) = failed_upload(Fault::AfterWrite, "b");
    assert_eq!(err.code(), Some("internal"), "{err}");
    // Never a file without its owner: both made it.
    let hash = bounties::encoding::sha256(&bytes);
    let artifacts = &s.node.artifacts;
    let owners = s.runtime.block_on(artifacts.owners(hash)).unwrap();
    assert_eq!(owners, vec![s.key("alice").account()]);
    // The client's retry is answered as already stored, and nothing is staged.
    let again = s.client.upload(s.key("alice"), &s.chain_id, &path).unwrap();
    assert!(
        !again.stored && again.size == bytes.len() as u64,
        "{again:?}"
    );
    assert!(support::files_under(&s.data_dir().tmp()).is_empty());
}

#[test]
fn a_store_that_crashes_mid_append_restarts_from_its_durable_prefix() {
    for (committed, backend) in [false, true]
        .into_iter()
        .flat_map(|c| BACKENDS.map(|b| (c, b)))
    {
        let c = Chain::on(backend);
        let faulty = Arc::new(FaultyLog::new(c.store(), 3, Fault::Crash { committed }));
        let node = c.node(Arc::clone(&faulty) as Arc<dyn LogStore>);
        assert_eq!(c.append(&node, c.transfer(1, 1)).unwrap(), 1);
        assert_eq!(c.append(&node, c.transfer(2, 2)).unwrap(), 2);
        let acknowledged = node.state();
        let third = c.transfer(3, 4);
        assert!(c.append(&node, third.clone()).is_err());
        // The dead store answers nothing more; what was published stays.
        assert!(c.append(&node, c.transfer(4, 8)).is_err());
        assert_eq!(node.state().head(), acknowledged.head());
        drop(node);

        // A restart over what reached the disk: everything acknowledged, and
        // the crashed append only if it committed.
        let restarted = c.node(faulty.inner());
        let bob = c.bob.account();
        if committed {
            assert_eq!(restarted.state().head().seq, 3);
            assert_eq!(restarted.state().balance(&bob), Amount(1_007));
            let resent = c.append(&restarted, third).unwrap_err();
            assert!(
                matches!(resent, NodeError::Rejected(ref r) if r.code() == "bad_nonce"),
                "{resent}"
            );
        } else {
            assert_eq!(restarted.state().head(), acknowledged.head());
            assert_eq!(restarted.state().root(), acknowledged.root());
            assert_eq!(c.append(&restarted, third).unwrap(), 3);
            assert_eq!(restarted.state().balance(&bob), Amount(1_007));
        }
        assert_eq!(c.append(&restarted, c.transfer(4, 8)).unwrap(), 4);
    }
}

#[test]
fn a_deposed_writer_acknowledges_nothing_more_and_the_new_writer_goes_on() {
    let c = Chain::on(Backend::Postgres);
    let LogLocation::Postgres(url) = c.location.clone() else {
        unreachable!("a PostgreSQL chain")
    };
    let old = Arc::new(PostgresLog::open(&url).unwrap());
    assert_eq!(old.become_writer(Duration::ZERO).unwrap(), 1);
    let node = c.node(Arc::clone(&old) as Arc<dyn LogStore>);
    assert_eq!(c.append(&node, c.transfer(1, 10)).unwrap(), 1);

    // The old writer's lock session ends (a partition, as the database sees
    // it) and another coordinator takes over.
    let ended = c.db.as_ref().unwrap().end_lock_sessions().unwrap();
    assert_eq!(ended, 1);
    let new = Arc::new(PostgresLog::open(&url).unwrap());
    assert_eq!(new.become_writer(Duration::from_secs(10)).unwrap(), 2);

    // The old node's next batch is refused whole, and its sequencer stops.
    let second = c.transfer(2, 20);
    let err = c.append(&node, second.clone()).unwrap_err();
    assert!(
        matches!(&err, NodeError::Store(e) if matches!(**e, StoreError::Deposed { epoch: 1, current: 2 })),
        "{err}"
    );
    let after = c.append(&node, c.transfer(3, 1)).unwrap_err();
    assert!(matches!(after, NodeError::Stopped), "{after}");
    assert_eq!(node.state().head().seq, 1);

    // The new writer starts from what is durable and takes the same message.
    let successor = c.node(new as Arc<dyn LogStore>);
    assert_eq!(successor.state().head().seq, 1);
    assert_eq!(c.append(&successor, second).unwrap(), 2);
    assert_eq!(successor.state().balance(&c.bob.account()), Amount(1_030));
}
