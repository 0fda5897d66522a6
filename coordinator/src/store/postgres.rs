//! The log in PostgreSQL, for operators whose users outgrow one machine.
//!
//! Entries are rows `(seq, hash, bytes)` under `PRIMARY KEY (seq)`: a batch
//! is one transaction that inserts every entry in one statement (arrays
//! through `UNNEST`, so a batch of 1024 costs one round trip, not 1024), and
//! it is acknowledged only after `COMMIT` returns with `synchronous_commit=on`,
//! that is, once the commit is flushed to the server's WAL.
//!
//! The driver is tokio-postgres with a deadpool pool, on a small runtime of
//! this store's own: the [`LogStore`] interface is synchronous (the sequencer
//! is a thread; handlers read through `spawn_blocking`), and a call from any
//! thread hands its query to that runtime and waits for the answer.

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::Ordering;

use bounties::encoding;
use bounties::{Entry, Hash32};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{LogStore, Snapshot, StoreError, check_continues, hash_from};

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i32 = 3;

/// Serialises schema creation between front-ends starting at once (an
/// arbitrary constant: "mb-schema").
const SCHEMA_LOCK: i64 = 0x6d62_2d73_6368_656d;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    seq   BIGINT PRIMARY KEY,
    hash  BYTEA NOT NULL,
    bytes BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq        BIGINT PRIMARY KEY,
    hash       BYTEA NOT NULL,
    state_root BYTEA NOT NULL
);
-- The writer's term: raised by each coordinator that takes the writer lock,
-- and checked in every append, so a deposed writer's late batch fails.
CREATE TABLE IF NOT EXISTS leader (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
-- The state image at the latest snapshot.
CREATE TABLE IF NOT EXISTS images (
    seq   BIGINT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
-- Signed requests accepted by any front-end (crate::shared::seen).
CREATE TABLE IF NOT EXISTS seen_requests (
    signature    BYTEA PRIMARY KEY,
    signed_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_requests_by_time ON seen_requests (signed_at_ms);
";

/// What takes a database from version `i + 1` to `i + 2` ([`SCHEMA`] is
/// version 1).
const MIGRATIONS: &[&str] = &[
    // 2: where the writer serves, so the other front-ends can pass it writes.
    "ALTER TABLE leader ADD COLUMN IF NOT EXISTS url TEXT;",
    // 3: evaluation leases and the audits given, for every front-end
    // (crate::shared::leases).
    "CREATE TABLE IF NOT EXISTS leases (
         token         TEXT PRIMARY KEY,
         evaluator     TEXT NOT NULL,
         submission    BIGINT NOT NULL,
         expires_at_ms BIGINT NOT NULL,
         lease         TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS leases_by_evaluator ON leases (evaluator, expires_at_ms);
     CREATE TABLE IF NOT EXISTS audits (
         evaluator  TEXT NOT NULL,
         submission BIGINT NOT NULL,
         PRIMARY KEY (evaluator, submission)
     );",
];

/// The channel a commit notifies: a wake-up for front-ends following the
/// log (a hint only: notifications sent while a listener is disconnected
/// are lost, so followers poll as well).
const CHANNEL: &str = "mb_log";

/// A driver failure as a store error, with its causes (for [`crate::shared`] too).
pub(crate) fn db(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(Box::new(WithCauses(Box::new(e))))
}

/// A driver error shown with its causes ("error connecting to server:
/// Connection refused"), which the driver keeps as sources.
#[derive(Debug)]
struct WithCauses(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for WithCauses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Wrappers often repeat their source's text: say each once.
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let said = c.to_string();
            if !text.ends_with(&said) {
                text = format!("{text}: {said}");
            }
            cause = c.source();
        }
        f.write_str(&text)
    }
}

impl std::error::Error for WithCauses {}

/// Why a PostgreSQL store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL does not parse as a PostgreSQL connection string.
    #[error("not a PostgreSQL URL ({url}): {source}")]
    Url {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: tokio_postgres::Error,
    },
    /// The database holds a schema newer than this build's.
    #[error(
        "the database's schema is version {found}, newer than this build's {SCHEMA_VERSION}: \
         upgrade the coordinator"
    )]
    SchemaVersion {
        /// What the database says.
        found: i32,
    },
    /// Connecting or creating the schema failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A log in a PostgreSQL database.
#[allow(missing_debug_implementations)]
pub struct PostgresLog {
    runtime: OwnRuntime,
    database: Database,
    config: tokio_postgres::Config,
    /// The connection holding the writer lock, once taken.
    writer_lock: std::sync::Mutex<Option<tokio_postgres::Client>>,
    /// This store's term as the writer (0: it never took the lock, and its
    /// appends are not fenced: tools and tests).
    epoch: std::sync::atomic::AtomicI64,
}

/// The session lock one serving coordinator holds on its database (an
/// arbitrary constant: "mb-write").
const WRITER_LOCK: i64 = 0x6d62_2d77_7269_7465;

/// The epoch of a store that resigned as the writer: its appends are refused.
const RESIGNED: i64 = -1;

/// The log's writer, as the database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leader {
    /// Its term.
    pub epoch: u64,
    /// Where it serves (`None`: it did not say).
    pub url: Option<String>,
}

/// The leader row.
async fn read_leader(pool: Pool) -> Result<Option<Leader>, StoreError> {
    let client = pool.get().await.map_err(db)?;
    let row = client
        .query_opt("SELECT epoch, url FROM leader WHERE id = 1", &[])
        .await
        .map_err(db)?;
    Ok(row.map(|r| Leader {
        epoch: r.get::<_, i64>(0) as u64,
        url: r.get(1),
    }))
}

/// Listen for commit notifications on a connection of its own until it
/// drops, waking `wake` for each.
async fn listen(
    config: &tokio_postgres::Config,
    wake: &tokio::sync::Notify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Whatever committed before the LISTEN took effect is found by this wake-up's poll.
    wake.notify_one();
    while rx.recv().await.is_some() {
        wake.notify_one();
    }
    drop(client);
    driver.await.unwrap_or(Ok(()))
}

/// The log's database, for the other tables front-ends share in it
/// ([`crate::shared`]): its pool, used on the log's runtime.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Database {
    pool: Pool,
    handle: tokio::runtime::Handle,
}

impl Database {
    /// Run `work` with the pool on the store's runtime and await it (from
    /// any runtime).
    pub async fn run<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.handle
            .spawn(work(self.pool.clone()))
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))?
    }

    /// The current writer ([`PostgresLog::leader`]), from any runtime.
    pub async fn leader(&self) -> Result<Option<Leader>, StoreError> {
        self.run(read_leader).await
    }
}

/// The store's runtime, shut down without waiting when the store is dropped
/// (dropping a runtime the usual way panics inside another runtime, which is
/// where a server drops its store).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0
            .as_ref()
            .expect("the runtime lives as long as the store")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// `url` with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        return match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        };
    }
    // The key=value form.
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl PostgresLog {
    /// Connect to `url` (`postgres://user@host:port/db`, or the key=value
    /// form), creating the schema if the database has none.
    pub fn open(url: &str) -> Result<PostgresLog, OpenError> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|source| OpenError::Url {
                url: redact(url),
                source,
            })?;
        // Acknowledge only what the server has flushed, whatever its default.
        config.options("-c synchronous_commit=on");
        if config.get_application_name().is_none() {
            config.application_name("model-bounties coordinator");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(db)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres-log")
            .enable_all()
            .build()
            .map_err(db)?;
        let log = PostgresLog {
            database: Database {
                pool,
                handle: runtime.handle().clone(),
            },
            runtime: OwnRuntime(Some(runtime)),
            config,
            writer_lock: std::sync::Mutex::new(None),
            epoch: std::sync::atomic::AtomicI64::new(0),
        };
        match log.with_pool(migrate)? {
            Some(found) if found > SCHEMA_VERSION => Err(OpenError::SchemaVersion { found }),
            _ => Ok(log),
        }
    }

    /// Run `work` on this store's runtime and wait for it, from any thread
    /// (including a tokio worker's, where `block_on` would panic).
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Database("the PostgreSQL worker stopped".into()))?
    }

    /// [`PostgresLog::run`] with the pool handed to `work`.
    fn with_pool<T: Send + 'static, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run(work(self.database.pool.clone()))
    }

    /// Become the database's one writer: take its writer lock on a
    /// connection of this store's own, held while the store lives (a
    /// process that dies, `kill -9` included, drops the connection and so the
    /// lock). Waits up to `wait` for a previous holder to go; another serving
    /// coordinator is an error. Returns the epoch ([`PostgresLog::try_lead`]).
    pub fn become_writer(&self, wait: std::time::Duration) -> Result<u64, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(epoch) = self.try_lead(None)? {
                return Ok(epoch);
            }
            if std::time::Instant::now() >= deadline {
                return Err(StoreError::Database(
                    "another coordinator is serving this database (it holds the writer \
                     lock); stop it first"
                        .into(),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// One try at the writer lock (see [`PostgresLog::become_writer`]):
    /// `Some(epoch)` once this store holds it, `None` while another does.
    /// Taking the lock starts a new term (epoch), which every later append
    /// checks in its own transaction: a writer that lost its lock without
    /// noticing (a partition) cannot commit after another took over. `url`
    /// is where this writer serves, for the others to pass it writes.
    pub fn try_lead(&self, url: Option<&str>) -> Result<Option<u64>, StoreError> {
        let mut held = self.writer_lock.lock().expect("lock");
        let epoch = self.epoch.load(Ordering::SeqCst);
        if epoch > 0 && held.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(Some(epoch as u64));
        }
        let config = self.config.clone();
        let url = url.map(str::to_owned);
        let reuse = held.take().filter(|c| !c.is_closed());
        let (client, epoch) = self.run(async move {
            let client = match reuse {
                Some(client) => client,
                None => {
                    let (client, connection) = config.connect(NoTls).await.map_err(db)?;
                    tokio::spawn(connection);
                    client
                }
            };
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
                .await
                .map_err(db)?
                .get(0);
            if !taken {
                return Ok((client, None));
            }
            let epoch: i64 = client
                .query_one(
                    "INSERT INTO leader (id, epoch, url) VALUES (1, 1, $1) ON CONFLICT (id) \
                     DO UPDATE SET epoch = leader.epoch + 1, url = EXCLUDED.url RETURNING epoch",
                    &[&url],
                )
                .await
                .map_err(db)?
                .get(0);
            Ok((client, Some(epoch)))
        })?;
        // The connection is kept either way: it holds the lock, or it is
        // reused for the next try.
        *held = Some(client);
        if let Some(epoch) = epoch {
            self.epoch.store(epoch, Ordering::SeqCst);
        }
        Ok(epoch.map(|e| e as u64))
    }

    /// Whether this store still holds the writer lock as far as it can tell
    /// (its lock connection is open). A lost connection means the lock is
    /// gone; an open one is no proof of holding it (a partition), which is
    /// why every append checks the epoch too.
    pub fn leads(&self) -> bool {
        self.epoch.load(Ordering::SeqCst) > 0
            && self
                .writer_lock
                .lock()
                .expect("lock")
                .as_ref()
                .is_some_and(|c| !c.is_closed())
    }

    /// Give up the writer lock: every append from this store is refused
    /// until it leads again, and another front-end may take over at once.
    pub fn resign(&self) {
        let epoch = self.epoch.swap(RESIGNED, Ordering::SeqCst);
        if epoch == 0 {
            self.epoch.store(0, Ordering::SeqCst);
        }
        // Closing the connection releases its session lock.
        drop(self.writer_lock.lock().expect("lock").take());
    }

    /// The current writer's epoch and where it serves (`None`: no
    /// coordinator ever took the lock).
    pub fn leader(&self) -> Result<Option<Leader>, StoreError> {
        self.with_pool(read_leader)
    }

    /// A wake-up each time entries may have been committed: a task on this
    /// store's runtime listens for commit notifications (reconnecting when
    /// its connection drops, and waking the follower then too, since a
    /// notification may have been missed). A hint: poll as well.
    pub fn wakeups(&self) -> std::sync::Arc<tokio::sync::Notify> {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let config = self.config.clone();
        let wake = std::sync::Arc::clone(&notify);
        self.runtime.spawn(async move {
            loop {
                if let Err(e) = listen(&config, &wake).await {
                    tracing::debug!(error = %WithCauses(Box::new(e)), "commit notifications lost; reconnecting");
                }
                wake.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
        notify
    }

    /// The database, for the other tables front-ends share in it.
    pub fn database(&self) -> Database {
        self.database.clone()
    }
}

/// Create the schema unless it exists and bring an older one up to
/// [`SCHEMA_VERSION`], under a lock so that front-ends starting together do
/// not race; returns the version found before (`None`: a new database). A
/// newer schema than this build's is left alone.
async fn migrate(pool: Pool) -> Result<Option<i32>, StoreError> {
    let mut client = pool.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute(SCHEMA).await.map_err(db)?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(db)?
        .map(|r| r.get(0));
    if found.is_none() {
        tx.execute("INSERT INTO schema_version (version) VALUES (1)", &[])
            .await
            .map_err(db)?;
    }
    let from = found.unwrap_or(1);
    if from > SCHEMA_VERSION {
        return Ok(found);
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from as usize - 1) {
        tx.batch_execute(step).await.map_err(db)?;
        let version = i as i32 + 2;
        tx.execute("UPDATE schema_version SET version = $1", &[&version])
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(found)
}

impl LogStore for PostgresLog {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_seq = first.seq;
        check_continues(first_seq, entries)?;
        let last_seq = first_seq + (entries.len() as u64 - 1);
        let (Ok(first), Ok(_)) = (i64::try_from(first_seq), i64::try_from(last_seq)) else {
            return Err(StoreError::Database(
                format!("seq {last_seq} is past PostgreSQL's BIGINT").into(),
            ));
        };
        let seqs: Vec<i64> = (0..entries.len() as i64).map(|i| first + i).collect();
        let hashes: Vec<Vec<u8>> = entries.iter().map(|e| e.hash().0.to_vec()).collect();
        let bytes: Vec<Vec<u8>> = entries.iter().map(Entry::encode).collect();
        let epoch = self.epoch.load(Ordering::SeqCst);
        if epoch == RESIGNED {
            return Err(StoreError::Deposed {
                epoch: 0,
                current: self.leader()?.map_or(0, |l| l.epoch),
            });
        }
        self.with_pool(move |pool| async move {
            let mut client = pool.get().await.map_err(db)?;
            let tx = client.transaction().await.map_err(db)?;
            // The questions go out at once (tokio-postgres pipelines them).
            // FOR SHARE: a takeover's epoch bump waits for this batch, or
            // this batch sees the new epoch. The notification is sent at
            // commit, never for a batch rolled back.
            let last = last_seq.to_string();
            let notify: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&CHANNEL, &last];
            let (term, next, _) = tokio::try_join!(
                async {
                    if epoch == 0 {
                        return Ok(None);
                    }
                    tx.query_opt("SELECT epoch FROM leader WHERE id = 1 FOR SHARE", &[])
                        .await
                        .map(|r| r.map(|r| r.get::<_, i64>(0)))
                },
                tx.query_one("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries", &[]),
                tx.execute("SELECT pg_notify($1, $2)", &notify),
            )
            .map_err(db)?;
            if epoch != 0 && term != Some(epoch) {
                return Err(StoreError::Deposed {
                    epoch: epoch as u64,
                    current: term.unwrap_or(0) as u64,
                });
            }
            let next: i64 = next.get(0);
            if next != first {
                return Err(StoreError::NotNext {
                    expected: next as u64,
                    got: first as u64,
                });
            }
            let inserted = tx
                .execute(
                    "INSERT INTO entries (seq, hash, bytes) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])",
                    &[&seqs, &hashes, &bytes],
                )
                .await;
            match inserted {
                Ok(_) => {}
                // Another writer took these seqs between the check and the
                // insert: the same refusal, with the head as it is now.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    drop(tx);
                    let next: i64 = client
                        .query_one("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries", &[])
                        .await
                        .map_err(db)?
                        .get(0);
                    return Err(StoreError::NotNext {
                        expected: next as u64,
                        got: first as u64,
                    });
                }
                Err(e) => return Err(db(e)),
            }
            tx.commit().await.map_err(db)
        })
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        // BIGINT is signed: a seq past i64::MAX names nothing stored.
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_pool(|pool| async move {
            let client = pool.get().await.map_err(db)?;
            let rows = client
                .query(
                    "SELECT seq, bytes FROM entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&from, &limit],
                )
                .await
                .map_err(db)?;
            rows.iter()
                .map(|row| {
                    let seq = row.get::<_, i64>(0) as u64;
                    let entry: Entry = encoding::decode(row.get::<_, &[u8]>(1)).map_err(|e| {
                        StoreError::Corrupt {
                            seq,
                            reason: e.to_string(),
                        }
                    })?;
                    if entry.seq != seq {
                        return Err(StoreError::Corrupt {
                            seq,
                            reason: format!("stored under seq {seq} but holds seq {}", entry.seq),
                        });
                    }
                    Ok(entry)
                })
                .collect()
        })
    }

    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError> {
        self.with_pool(|pool| async move {
            let client = pool.get().await.map_err(db)?;
            let row = client
                .query_opt(
                    "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await
                .map_err(db)?;
            row.map(|r| {
                let seq = r.get::<_, i64>(0) as u64;
                Ok((seq, hash_from(seq, r.get::<_, Vec<u8>>(1))?))
            })
            .transpose()
        })
    }

    fn put_snapshot(&self, s: Snapshot, image: &[u8]) -> Result<(), StoreError> {
        let seq = i64::try_from(s.seq).map_err(db)?;
        let image = image.to_vec();
        self.with_pool(|pool| async move {
            let mut client = pool.get().await.map_err(db)?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute(
                "INSERT INTO snapshots (seq, hash, state_root) VALUES ($1, $2, $3) \
                 ON CONFLICT (seq) DO UPDATE SET hash = EXCLUDED.hash, \
                 state_root = EXCLUDED.state_root",
                &[&seq, &s.hash.0.as_slice(), &s.state_root.0.as_slice()],
            )
            .await
            .map_err(db)?;
            tx.execute("DELETE FROM images", &[]).await.map_err(db)?;
            tx.execute(
                "INSERT INTO images (seq, bytes) VALUES ($1, $2)",
                &[&seq, &image],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)
        })
    }

    fn image(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_pool(|pool| async move {
            let client = pool.get().await.map_err(db)?;
            Ok(client
                .query_opt(
                    "SELECT bytes FROM images WHERE seq = (SELECT MAX(seq) FROM snapshots)",
                    &[],
                )
                .await
                .map_err(db)?
                .map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.with_pool(|pool| async move {
            let client = pool.get().await.map_err(db)?;
            let row = client
                .query_opt(
                    "SELECT seq, hash, state_root FROM snapshots ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await
                .map_err(db)?;
            row.map(|r| {
                let seq = r.get::<_, i64>(0) as u64;
                Ok(Snapshot {
                    seq,
                    hash: hash_from(seq, r.get::<_, Vec<u8>>(1))?,
                    state_root: hash_from(seq, r.get::<_, Vec<u8>>(2))?,
                })
            })
            .transpose()
        })
    }
}

/// A database made for one test or benchmark and dropped with it.
pub mod scratch {
    use std::str::FromStr;

    use rand_core::{OsRng, RngCore};
    use tokio_postgres::NoTls;

    /// Where scratch databases are created unless `MB_TEST_POSTGRES_URL` says
    /// otherwise: the server every project machine and CI run has.
    pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    /// A fresh, empty database, dropped (with any connections still open to
    /// it) when this is dropped.
    #[derive(Debug)]
    pub struct ScratchDatabase {
        admin_url: String,
        name: String,
        url: String,
    }

    /// Why no scratch database could be made.
    #[derive(Debug, thiserror::Error)]
    #[error(
        "cannot create a test database through {admin_url}: {source}\n\
         (the PostgreSQL tests need a server: start PostgreSQL 15 on 127.0.0.1:5432 \
         with trust auth, or set MB_TEST_POSTGRES_URL to an account that may CREATE DATABASE)"
    )]
    pub struct ScratchError {
        admin_url: String,
        source: tokio_postgres::Error,
    }

    async fn admin(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::from_str(url)?
            .connect(NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Run `work` to completion on a runtime of its own, on a thread of its
    /// own (so this works inside and outside a tokio runtime).
    fn on_own_runtime<T: Send>(work: impl Future<Output = T> + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the scratch database")
                    .block_on(work)
            })
            .join()
            .expect("the scratch database's thread")
        })
    }

    impl ScratchDatabase {
        /// Create `mb_test_<random>` on the server of `MB_TEST_POSTGRES_URL`
        /// (default [`DEFAULT_ADMIN_URL`]).
        pub fn create() -> Result<ScratchDatabase, ScratchError> {
            let admin_url = std::env::var("MB_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
            let name = format!("mb_test_{:016x}", OsRng.next_u64());
            let created = on_own_runtime(async {
                admin(&admin_url)
                    .await?
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
            });
            if let Err(source) = created {
                return Err(ScratchError { admin_url, source });
            }
            let mut config =
                tokio_postgres::Config::from_str(&admin_url).map_err(|source| ScratchError {
                    admin_url: admin_url.clone(),
                    source,
                })?;
            config.dbname(&name);
            let url = to_url(&config);
            Ok(ScratchDatabase {
                admin_url,
                name,
                url,
            })
        }

        /// Its connection string.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// Its name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// End every session holding an advisory lock in this database, as
        /// the server does to a client it lost (a partition, as the
        /// database sees it); the number ended.
        pub fn end_lock_sessions(&self) -> Result<i64, ScratchError> {
            let (url, name) = (&self.admin_url, &self.name);
            on_own_runtime(async {
                let ended = admin(url)
                    .await?
                    .query_one(
                        "SELECT COUNT(pg_terminate_backend(l.pid)) FROM pg_locks l \
                         JOIN pg_database d ON d.oid = l.database \
                         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1",
                        &[name],
                    )
                    .await?;
                Ok(ended.get(0))
            })
            .map_err(|source| ScratchError {
                admin_url: url.clone(),
                source,
            })
        }
    }

    /// A postgres:// URL for `config` (the admin's host, port, user and
    /// password; the scratch database).
    fn to_url(config: &tokio_postgres::Config) -> String {
        use tokio_postgres::config::Host;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        let password = config
            .get_password()
            .map(|p| format!(":{}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        let db = config.get_dbname().unwrap_or_default();
        format!("postgres://{user}{password}@{host}:{port}/{db}")
    }

    impl Drop for ScratchDatabase {
        fn drop(&mut self) {
            let (url, name) = (&self.admin_url, &self.name);
            let dropped = on_own_runtime(async {
                admin(url)
                    .await?
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            });
            if let Err(e) = dropped {
                eprintln!("warning: could not drop the test database {name}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;
    use crate::store::LogLocation;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("postgres://op:s3cret@db.internal:5432/bounties"),
            "postgres://op:***@db.internal:5432/bounties"
        );
        assert_eq!(
            redact("postgres://op@db.internal/bounties"),
            "postgres://op@db.internal/bounties"
        );
        assert_eq!(
            redact("host=db user=op password=s3cret dbname=b"),
            "host=db user=op password=*** dbname=b"
        );
        let location: LogLocation = "postgresql://op:s3cret@db/b".parse().unwrap();
        assert_eq!(location.to_string(), "postgresql://op:***@db/b");
    }

    #[test]
    fn a_store_is_sqlite_or_a_postgres_url() {
        assert_eq!("sqlite".parse::<LogLocation>(), Ok(LogLocation::DataDir));
        assert_eq!(
            "postgres://u@h/d".parse::<LogLocation>(),
            Ok(LogLocation::Postgres("postgres://u@h/d".into()))
        );
        let err = "mysql://u@h/d".parse::<LogLocation>().unwrap_err();
        assert!(err.contains("postgres://"), "{err}");
    }
}
