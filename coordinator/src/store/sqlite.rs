//! The embedded default: the log in one SQLite file, WAL mode, `synchronous=FULL`.
//!
//! One writer connection takes each batch in one transaction (group commit);
//! reads use a small pool of their own connections, which WAL lets run beside
//! the writer. Entries are stored as their canonical bytes with their hash.

use std::path::Path;
use std::sync::Mutex;

use bounties::encoding;
use bounties::{Entry, Hash32};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{LogStore, Snapshot, StoreError, check_continues, hash_from};

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

/// A log in a SQLite database file.
#[derive(Debug)]
pub struct SqliteLog {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    seq   INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq        INTEGER PRIMARY KEY,
    hash       BLOB NOT NULL,
    state_root BLOB NOT NULL
);
-- The state image at the latest snapshot (a table of its own: logs made
-- before images need no migration).
CREATE TABLE IF NOT EXISTS images (
    seq   INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);
";

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db)?;
    Ok(conn)
}

impl SqliteLog {
    /// Open (creating if needed) the log at `path`.
    pub fn open(path: &Path) -> Result<SqliteLog, StoreError> {
        let conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        // WAL: readers never block the writer. FULL: a commit is fsynced
        // before it returns, so an acknowledged entry survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(SqliteLog {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: path.to_owned(),
        })
    }

    /// Open an existing log read-only (the auditor).
    pub fn open_read_only(path: &Path) -> Result<SqliteLog, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(SqliteLog {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: path.to_owned(),
        })
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().expect("lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => open(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().expect("lock");
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

impl LogStore for SqliteLog {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut conn = self.writer.lock().expect("lock");
        let tx = conn.transaction().map_err(db)?;
        let next: u64 = tx
            .query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db)? as u64;
        if first.seq != next {
            return Err(StoreError::NotNext {
                expected: next,
                got: first.seq,
            });
        }
        check_continues(next, entries)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO entries (seq, hash, bytes) VALUES (?1, ?2, ?3)")
                .map_err(db)?;
            for e in entries {
                insert
                    .execute(params![
                        e.seq as i64,
                        e.hash().as_bytes().as_slice(),
                        e.encode()
                    ])
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        // SQLite's integers are signed: a seq past i64::MAX (say, `?from=`
        // u64::MAX) must not wrap around to a negative and read from genesis.
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, bytes FROM entries WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![from, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, bytes) = row.map_err(db)?;
                let entry: Entry = encoding::decode(&bytes).map_err(|e| StoreError::Corrupt {
                    seq: seq as u64,
                    reason: e.to_string(),
                })?;
                if entry.seq != seq as u64 {
                    return Err(StoreError::Corrupt {
                        seq: seq as u64,
                        reason: format!("stored under seq {seq} but holds seq {}", entry.seq),
                    });
                }
                out.push(entry);
            }
            Ok(out)
        })
    }

    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError> {
        self.with_reader(|conn| {
            let row = conn
                .query_row(
                    "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )
                .optional()
                .map_err(db)?;
            row.map(|(seq, h)| Ok((seq as u64, hash_from(seq as u64, h)?)))
                .transpose()
        })
    }

    fn put_snapshot(&self, s: Snapshot, image: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().expect("lock");
        let tx = conn.transaction().map_err(db)?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (seq, hash, state_root) VALUES (?1, ?2, ?3)",
            params![
                s.seq as i64,
                s.hash.as_bytes().as_slice(),
                s.state_root.as_bytes().as_slice()
            ],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM images", []).map_err(db)?;
        tx.execute(
            "INSERT INTO images (seq, bytes) VALUES (?1, ?2)",
            params![s.seq as i64, image],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn image(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_reader(|conn| {
            conn.query_row(
                "SELECT bytes FROM images WHERE seq = (SELECT MAX(seq) FROM snapshots)",
                [],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(db)
        })
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.with_reader(|conn| {
            let row = conn
                .query_row(
                    "SELECT seq, hash, state_root FROM snapshots ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(db)?;
            row.map(|(seq, h, root)| {
                Ok(Snapshot {
                    seq: seq as u64,
                    hash: hash_from(seq as u64, h)?,
                    state_root: hash_from(seq as u64, root)?,
                })
            })
            .transpose()
        })
    }
}
