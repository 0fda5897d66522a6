//! The data dir: the log database, artifacts, keys, and `coordinator init`.
//!
//! ```text
//! D/log.sqlite            the log (WAL: also log.sqlite-wal, -shm)
//! D/artifacts/ab/<hash>   content-addressed files (+ <hash>.owned/<account>)
//! D/tmp/                  uploads being received (staging; emptied at start;
//!                         D/tmp/<address>/ per front-end on PostgreSQL)
//! D/keys/operator.key     signs genesis and scheduler messages (0600)
//! D/keys/minter.key       the only account that may mint (0600)
//! D/keys/dev/<name>.key   funded dev accounts (`init --dev`)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bounties::{AccountId, Amount, Entry, Genesis, Params, SecretKey, TimestampMs};

use crate::store::postgres::{OpenError, PostgresLog};
use crate::store::sqlite::SqliteLog;
use crate::store::{LogLocation, LogStore, StoreError};

/// Why a data dir could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The log database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL log could not be opened.
    #[error(transparent)]
    Postgres(#[from] OpenError),
}

type Result<T> = std::result::Result<T, DataDirError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Paths inside a data dir.
#[derive(Clone, Debug)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// The log database.
    pub fn log(&self) -> PathBuf {
        self.0.join("log.sqlite")
    }
    /// The artifact store's root.
    pub fn artifacts(&self) -> PathBuf {
        self.0.join("artifacts")
    }
    /// Uploads in progress.
    pub fn tmp(&self) -> PathBuf {
        self.0.join("tmp")
    }
    /// A key file.
    pub fn key(&self, name: &str) -> PathBuf {
        self.0.join("keys").join(format!("{name}.key"))
    }
    /// A dev account's key file.
    pub fn dev_key(&self, name: &str) -> PathBuf {
        self.0.join("keys").join("dev").join(format!("{name}.key"))
    }
    /// Read a key file.
    pub fn read_key(path: &Path) -> Result<SecretKey> {
        bounties_client::read_key_file(path).map_err(|e| DataDirError::Invalid(e.to_string()))
    }
}

/// Open the log at `location` (the data dir's SQLite file, created if
/// missing, or a PostgreSQL database).
pub fn open_log(dir: &DataDir, location: &LogLocation) -> Result<Arc<dyn LogStore>> {
    Ok(match location {
        LogLocation::DataDir => Arc::new(SqliteLog::open(&dir.log())?),
        LogLocation::Postgres(url) => Arc::new(PostgresLog::open(url)?),
    })
}

/// Open an existing log at `location` to read it (the auditor).
pub fn open_existing_log(dir: &DataDir, location: &LogLocation) -> Result<Arc<dyn LogStore>> {
    Ok(match location {
        LogLocation::DataDir => Arc::new(SqliteLog::open_read_only(&dir.log())?),
        LogLocation::Postgres(url) => Arc::new(PostgresLog::open(url)?),
    })
}

/// Write `key` to `path`, readable by its owner only; never overwrite.
pub fn write_key(path: &Path, key: &SecretKey) -> Result<()> {
    bounties_client::write_key_file(path, key).map_err(|e| DataDirError::Invalid(e.to_string()))
}

/// What `init` created.
#[derive(Debug, serde::Serialize)]
pub struct Initialised {
    /// The chain id.
    pub chain_id: String,
    /// The operator's account.
    pub operator: AccountId,
    /// The minter's account.
    pub minter: AccountId,
    /// Dev accounts by name, with their key files.
    pub dev: Vec<(String, AccountId, PathBuf)>,
    /// The genesis entry's hash.
    pub genesis_hash: bounties::Hash32,
}

/// Create a data dir with a fresh genesis, written to the log at `location`.
pub fn init(
    dir: &DataDir,
    location: &LogLocation,
    chain_id: &str,
    params: Params,
    dev: &[String],
    dev_balance: Amount,
    now_ms: u64,
) -> Result<Initialised> {
    if *location == LogLocation::DataDir && dir.log().exists() {
        return Err(DataDirError::Invalid(format!(
            "{} already holds a log; choose an empty data dir",
            dir.0.display()
        )));
    }
    for name in dev {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DataDirError::Invalid(format!(
                "dev account name {name:?}: use letters, digits, '-' and '_'"
            )));
        }
    }
    // A database is checked before any key is written (a SQLite log is
    // created only at the end, so a failed init leaves none behind).
    let database = match location {
        LogLocation::DataDir => None,
        LogLocation::Postgres(_) => {
            let log = open_log(dir, location)?;
            if let Some((seq, _)) = log.head()? {
                return Err(DataDirError::Invalid(format!(
                    "the log at {location} already holds a chain (head seq {seq}); use an empty database"
                )));
            }
            Some(log)
        }
    };
    std::fs::create_dir_all(&dir.0).map_err(io(&dir.0))?;
    let operator = bounties_client::random_key();
    let minter = bounties_client::random_key();
    write_key(&dir.key("operator"), &operator)?;
    write_key(&dir.key("minter"), &minter)?;
    let mut devs = Vec::new();
    for name in dev {
        let key = bounties_client::random_key();
        let path = dir.dev_key(name);
        write_key(&path, &key)?;
        devs.push((name.clone(), key.account(), path));
    }
    let mut balances: Vec<(AccountId, Amount)> =
        devs.iter().map(|(_, a, _)| (*a, dev_balance)).collect();
    balances.sort_by_key(|(a, _)| *a);
    balances.dedup_by_key(|(a, _)| *a);
    let genesis = Genesis {
        chain_id: chain_id.to_owned(),
        params,
        minter: minter.account(),
        operator: operator.account(),
        balances,
    };
    genesis
        .check()
        .map_err(|e| DataDirError::Invalid(format!("genesis: {e}")))?;
    let entry = Entry::genesis(&genesis, &operator, TimestampMs(now_ms));
    let log = match database {
        Some(log) => log,
        None => open_log(dir, location)?,
    };
    log.append(std::slice::from_ref(&entry))?;
    Ok(Initialised {
        chain_id: chain_id.to_owned(),
        operator: operator.account(),
        minter: minter.account(),
        dev: devs,
        genesis_hash: entry.hash(),
    })
}
