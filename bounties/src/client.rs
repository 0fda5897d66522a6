//! A blocking client for the coordinator's HTTP API (feature `client`): the
//! one place the CLIs, the miner and the evaluator talk to a coordinator.
//!
//! It signs messages with the account's next nonce, signs artifact and job
//! requests, streams uploads and downloads through files, checks every
//! download's hash, and makes a message send safe to retry: a send whose
//! answer was lost is resolved by reading the account's nonce, so a retry
//! neither fails nor acts twice.

// The client is the IO shell the core's rules forbid; it is compiled only
// with the `client` feature, which the core's own build never enables.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request};
use crate::ids::{AccountId, Hash32};
use crate::keys::SecretKey;
use crate::message::{Action, Message, SignedMessage};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The coordinator answered with an error.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The readable message.
        message: String,
    },
    /// No answer (connection refused, dropped, timed out).
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// An answer that does not parse, or a download whose hash is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A local file.
    #[error("{path}: {reason}")]
    File {
        /// Which.
        path: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// The API error code, if the coordinator answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, ClientError>;

/// Where an accepted message landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Appended {
    /// Its seq (`None` when a retried send found it already applied).
    pub seq: Option<u64>,
    /// Its entry hash (likewise).
    pub hash: Option<Hash32>,
}

/// The coordinator's `/v1/info`.
#[derive(Clone, Debug, Deserialize)]
pub struct Info {
    /// The chain id.
    pub chain_id: String,
    /// The head.
    pub head: Head,
    /// The state root at the head.
    pub state_root: Hash32,
    /// The operator.
    pub operator: AccountId,
    /// The server's clock.
    pub server_time_ms: u64,
}

/// The head of the log.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Head {
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Its time.
    pub timestamp_ms: u64,
}

/// A coordinator.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A request timestamp: the clock, but strictly increasing within the
/// process, so two identical requests never carry the same signature (the
/// server accepts each signature once).
pub fn request_timestamp_ms() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let ts = now.max(last + 1);
        match LAST.compare_exchange_weak(last, ts, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return ts,
            Err(seen) => last = seen,
        }
    }
}

impl Client {
    /// A client for the coordinator at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(url: &str) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build();
        Client {
            base: url.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn transport(&self, e: ureq::Error) -> ClientError {
        ClientError::Transport {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }

    fn answer<T: DeserializeOwned>(&self, mut res: ureq::http::Response<ureq::Body>) -> Result<T> {
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| self.transport(e))?;
        if status >= 400 {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(ClientError::Api {
                status,
                code: v["error"]["code"].as_str().unwrap_or("http").to_owned(),
                message: v["error"]["message"]
                    .as_str()
                    .map_or_else(|| text.chars().take(200).collect(), str::to_owned),
            });
        }
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Invalid(format!("unexpected answer from the coordinator: {e}"))
        })
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let res = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| self.transport(e))?;
        self.answer(res)
    }

    /// `/v1/info`.
    pub fn info(&self) -> Result<Info> {
        self.get("/v1/info")
    }

    /// An account's last used nonce.
    pub fn nonce(&self, account: &AccountId) -> Result<u64> {
        let v: Value = self.get(&format!("/v1/accounts/{account}"))?;
        v["nonce"]
            .as_u64()
            .ok_or_else(|| ClientError::Invalid("account without a nonce".into()))
    }

    /// Send one signed message.
    pub fn send(&self, signed: &SignedMessage) -> Result<Appended> {
        let res = self
            .agent
            .post(format!("{}/v1/messages", self.base))
            .send_json(serde_json::json!({
                "message": hex::encode(&signed.message),
                "signature": signed.signature.to_hex(),
            }))
            .map_err(|e| self.transport(e))?;
        self.answer(res)
    }

    /// Sign `action` with `key`'s next nonce and send it. If the answer is
    /// lost, the account's nonce tells whether it was applied: then it
    /// counts as done; if not, the same signed bytes are sent again (a
    /// nonce is used once, so the message can never apply twice).
    pub fn act(&self, key: &SecretKey, action: Action) -> Result<Appended> {
        let info = self.info()?;
        let nonce = self.nonce(&key.account())? + 1;
        let signed = Message {
            chain_id: info.chain_id,
            signer: key.account(),
            nonce,
            action,
        }
        .sign(key);
        let mut last = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 << attempt));
                match self.nonce(&key.account()) {
                    Ok(n) if n >= nonce => {
                        return Ok(Appended {
                            seq: None,
                            hash: None,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            match self.send(&signed) {
                Err(e @ ClientError::Transport { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn signed_headers(
        &self,
        key: &SecretKey,
        chain_id: &str,
        method: &str,
        path: &str,
    ) -> [(&'static str, String); 3] {
        let ts = request_timestamp_ms();
        [
            (HEADER_ACCOUNT, key.account().to_hex()),
            (HEADER_TIMESTAMP, ts.to_string()),
            (
                HEADER_SIGNATURE,
                sign_request(key, chain_id, method, path, ts).to_hex(),
            ),
        ]
    }

    /// Upload the file at `path` as an artifact (its SHA-256 names it);
    /// returns the hash. Uploading what is already there is fine.
    pub fn upload(&self, key: &SecretKey, chain_id: &str, path: &Path) -> Result<Hash32> {
        let hash = sha256_file(path)?;
        self.upload_as(key, chain_id, path, hash)
    }

    /// Upload the file at `path`, whose SHA-256 the caller already knows.
    pub fn upload_as(
        &self,
        key: &SecretKey,
        chain_id: &str,
        path: &Path,
        hash: Hash32,
    ) -> Result<Hash32> {
        let file_err = |e: std::io::Error| ClientError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let size = std::fs::metadata(path).map_err(file_err)?.len();
        let route = format!("/v1/artifacts/{hash}");
        let mut file = std::fs::File::open(path).map_err(file_err)?;
        let mut req = self
            .agent
            .put(format!("{}{route}", self.base))
            .header("content-length", size.to_string())
            .header("content-type", "application/octet-stream");
        for (k, v) in self.signed_headers(key, chain_id, "PUT", &route) {
            req = req.header(k, v);
        }
        let res = req
            .send(ureq::SendBody::from_reader(&mut file))
            .map_err(|e| self.transport(e))?;
        let _: Value = self.answer(res)?;
        Ok(hash)
    }

    /// Download artifact `hash` into `dest` (signed with `key` when given,
    /// for sealed artifacts), checking its hash; written atomically.
    pub fn download(
        &self,
        key: Option<&SecretKey>,
        chain_id: &str,
        hash: &Hash32,
        dest: &Path,
    ) -> Result<u64> {
        let route = format!("/v1/artifacts/{hash}");
        let mut req = self.agent.get(format!("{}{route}", self.base));
        if let Some(key) = key {
            for (k, v) in self.signed_headers(key, chain_id, "GET", &route) {
                req = req.header(k, v);
            }
        }
        let mut res = req.call().map_err(|e| self.transport(e))?;
        if res.status().as_u16() >= 400 {
            return Err(self.answer::<Value>(res).expect_err("an error status"));
        }
        // A name of our own: several processes may fetch into one cache.
        let tmp = dest.with_extension(format!(
            "download-{}-{}",
            std::process::id(),
            request_timestamp_ms()
        ));
        let file_err = |e: std::io::Error| ClientError::File {
            path: tmp.display().to_string(),
            reason: e.to_string(),
        };
        /// Removes a partial download unless it was renamed into place.
        struct Partial<'a>(&'a Path);
        impl Drop for Partial<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(self.0);
            }
        }
        let _partial = Partial(&tmp);
        let mut out = std::fs::File::create(&tmp).map_err(file_err)?;
        let mut reader = res.body_mut().with_config().limit(u64::MAX).reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(file_err)?;
            total += n as u64;
        }
        out.sync_all().map_err(file_err)?;
        let got = Hash32(hasher.finalize().into());
        if got != *hash {
            return Err(ClientError::Invalid(format!(
                "artifact {hash} downloaded with SHA-256 {got}: refusing it"
            )));
        }
        std::fs::rename(&tmp, dest).map_err(|e| ClientError::File {
            path: dest.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(total)
    }

    /// Artifact `hash` as a file in `cache` (named by its hash), downloaded
    /// unless a file with that hash is already there.
    pub fn fetch_cached(
        &self,
        key: Option<&SecretKey>,
        chain_id: &str,
        hash: &Hash32,
        cache: &Path,
    ) -> Result<std::path::PathBuf> {
        std::fs::create_dir_all(cache).map_err(|e| ClientError::File {
            path: cache.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = cache.join(format!("{hash}.safetensors"));
        if path.is_file() && sha256_file(&path)? == *hash {
            return Ok(path);
        }
        self.download(key, chain_id, hash, &path)?;
        Ok(path)
    }

    /// Lease an evaluation job (a registered evaluator); `None` when there is none.
    pub fn lease(&self, key: &SecretKey, chain_id: &str) -> Result<Option<Value>> {
        let route = "/v1/jobs/lease";
        let mut req = self.agent.post(format!("{}{route}", self.base));
        for (k, v) in self.signed_headers(key, chain_id, "POST", route) {
            req = req.header(k, v);
        }
        let res = req.send_empty().map_err(|e| self.transport(e))?;
        match self.answer::<Value>(res) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api { code, .. }) if code == "no_job" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where downloads are cached: `given`, else `$XDG_CACHE_HOME/model-bounties`,
/// else `~/.cache/model-bounties`, else `./.model-bounties-cache`.
pub fn cache_dir(given: Option<std::path::PathBuf>) -> std::path::PathBuf {
    use std::path::PathBuf;
    given
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("model-bounties"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/model-bounties"))
        })
        .unwrap_or_else(|| PathBuf::from(".model-bounties-cache"))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<Hash32> {
    let err = |e: std::io::Error| ClientError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Hash32(hasher.finalize().into()))
}

/// Read a key file: the 32-byte seed as 64 hex characters.
pub fn read_key_file(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    SecretKey::from_hex_seed(text.trim()).map_err(|_| ClientError::File {
        path: path.display().to_string(),
        reason: "a key file holds a seed of 64 hex characters".into(),
    })
}

/// Write a key file readable by its owner only; never overwrites.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| ClientError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    writeln!(f, "{}", hex::encode(key.seed())).map_err(err)?;
    f.sync_all().map_err(err)
}

/// A fresh random key (from the operating system's generator).
pub fn random_key() -> SecretKey {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    SecretKey::from_seed(seed)
}
