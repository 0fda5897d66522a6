//! A blocking client for the coordinator's HTTP API: typed answers (read
//! strictly), signed messages with the account's next nonce, signed artifact
//! and job requests, uploads and downloads streamed through files with every
//! download's hash checked, and sends that are safe to retry (a send whose
//! answer was lost is resolved by reading the account's nonce, so a retry
//! neither fails nor acts twice).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bounties::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request};
use bounties::{AccountId, Action, BountyId, Hash32, Message, SecretKey, SignedMessage};
use bounties_api as api;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::files::sha256_file;

/// The most bytes of a JSON answer read.
const ANSWER_BYTES_MAX: u64 = 64 << 20;

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
    // The cause is in the message (binaries print errors with their chain,
    // so a `#[source]` too would print it twice); the value is kept typed.
    #[error("cannot reach the coordinator at {url}: {cause}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        cause: Box<ureq::Error>,
    },
    /// An answer that is not what the API promises.
    #[error("unexpected answer from {route}: {cause}")]
    Answer {
        /// Which route.
        route: String,
        /// Why it does not parse.
        cause: serde_json::Error,
    },
    /// A download whose bytes do not hash to its name.
    #[error("artifact {expected} downloaded with SHA-256 {got}: refusing it")]
    HashMismatch {
        /// Asked for.
        expected: Hash32,
        /// Received.
        got: Hash32,
    },
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

/// What came of [`Client::act`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acted {
    /// Appended, here.
    Appended(api::Appended),
    /// The answer was lost, and the account's nonce shows the message applied.
    AlreadyApplied {
        /// The message's nonce.
        nonce: u64,
    },
}

impl Acted {
    /// Its seq, when known.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Acted::Appended(a) => Some(a.seq),
            Acted::AlreadyApplied { .. } => None,
        }
    }
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
            cause: Box::new(e),
        }
    }

    /// Read an answer: the route's type on success, [`ClientError::Api`] on an error status.
    fn answer<T: DeserializeOwned>(
        &self,
        route: &str,
        mut res: ureq::http::Response<ureq::Body>,
    ) -> Result<T> {
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_string()
            .map_err(|e| self.transport(e))?;
        if status >= 400 {
            return Err(match serde_json::from_str::<api::ErrorBody>(&text) {
                Ok(body) => ClientError::Api {
                    status,
                    code: body.error.code,
                    message: body.error.message,
                },
                // A proxy's page, say: say what it was.
                Err(_) => ClientError::Api {
                    status,
                    code: "http".into(),
                    message: text.chars().take(200).collect(),
                },
            });
        }
        serde_json::from_str(&text).map_err(|cause| ClientError::Answer {
            route: route.to_owned(),
            cause,
        })
    }

    /// GET a route's JSON answer as `T`.
    pub fn get<T: DeserializeOwned>(&self, route: &str) -> Result<T> {
        let res = self
            .agent
            .get(format!("{}{route}", self.base))
            .call()
            .map_err(|e| self.transport(e))?;
        self.answer(route, res)
    }

    /// `GET /v1/info`.
    pub fn info(&self) -> Result<api::Info> {
        self.get("/v1/info")
    }

    /// `GET /v1/accounts/{account}`.
    pub fn account(&self, account: &AccountId) -> Result<api::AccountPage> {
        self.get(&format!("/v1/accounts/{account}"))
    }

    /// An account's last used nonce.
    pub fn nonce(&self, account: &AccountId) -> Result<u64> {
        Ok(self.account(account)?.account.nonce)
    }

    /// `GET /v1/bounties`.
    pub fn bounties(&self) -> Result<api::BountyList> {
        self.get("/v1/bounties")
    }

    /// `GET /v1/bounties/{id}`.
    pub fn bounty(&self, id: BountyId) -> Result<api::BountyPage> {
        self.get(&format!("/v1/bounties/{id}"))
    }

    /// `GET /v1/bounties/{id}/leaderboard`.
    pub fn leaderboard(&self, id: BountyId) -> Result<api::Leaderboard> {
        self.get(&format!("/v1/bounties/{id}/leaderboard"))
    }

    /// `GET /v1/models/{weights_hash}`.
    pub fn model(&self, weights_hash: &Hash32) -> Result<api::ModelPage> {
        self.get(&format!("/v1/models/{weights_hash}"))
    }

    /// `GET /v1/licences?licensee=`.
    pub fn licences_of(&self, licensee: &AccountId) -> Result<api::LicenceList> {
        self.get(&format!("/v1/licences?licensee={licensee}"))
    }

    /// `GET /v1/log?from=&limit=`.
    pub fn log(&self, from: u64, limit: usize) -> Result<api::LogPage> {
        self.get(&format!("/v1/log?from={from}&limit={limit}"))
    }

    /// `GET /v1/jobs`.
    pub fn jobs(&self) -> Result<api::JobList> {
        self.get("/v1/jobs")
    }

    /// `POST /v1/messages`: send one signed message.
    pub fn send(&self, signed: &SignedMessage) -> Result<api::Appended> {
        let route = "/v1/messages";
        let res = self
            .agent
            .post(format!("{}{route}", self.base))
            .send_json(api::PostMessage {
                message: hex::encode(&signed.message),
                signature: signed.signature.to_hex(),
            })
            .map_err(|e| self.transport(e))?;
        self.answer(route, res)
    }

    /// Sign `action` with `key`'s next nonce and send it. If the answer is
    /// lost (or the service is unavailable for a moment, as while its
    /// front-ends elect a new writer), the account's nonce tells whether it was applied: then it
    /// counts as done; if not, the same signed bytes are sent again (a
    /// nonce is used once, so the message can never apply twice).
    pub fn act(&self, key: &SecretKey, action: Action) -> Result<Acted> {
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
                    Ok(n) if n >= nonce => return Ok(Acted::AlreadyApplied { nonce }),
                    Ok(_) => {}
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            match self.send(&signed) {
                // No answer, or the service cannot say now (a front-end
                // whose writer is changing): the nonce settles it.
                Err(e @ (ClientError::Transport { .. } | ClientError::Api { status: 503, .. })) => {
                    last = Some(e);
                }
                other => return other.map(Acted::Appended),
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

    /// Upload the file at `path` as an artifact (its SHA-256 names it).
    /// Uploading what is already there is fine.
    pub fn upload(&self, key: &SecretKey, chain_id: &str, path: &Path) -> Result<api::Uploaded> {
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
    ) -> Result<api::Uploaded> {
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
        self.answer(&route, res)
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
            return Err(self
                .answer::<serde::de::IgnoredAny>(&route, res)
                .expect_err("an error status"));
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
            let n = reader
                .read(&mut buf)
                .map_err(|e| self.transport(ureq::Error::Io(e)))?;
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
            return Err(ClientError::HashMismatch {
                expected: *hash,
                got,
            });
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
    ) -> Result<PathBuf> {
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

    /// `POST /v1/jobs/lease` (a registered evaluator); `None` when there is no job.
    pub fn lease(&self, key: &SecretKey, chain_id: &str) -> Result<Option<api::LeaseGrant>> {
        let route = "/v1/jobs/lease";
        let mut req = self.agent.post(format!("{}{route}", self.base));
        for (k, v) in self.signed_headers(key, chain_id, "POST", route) {
            req = req.header(k, v);
        }
        let res = req.send_empty().map_err(|e| self.transport(e))?;
        match self.answer(route, res) {
            Ok(grant) => Ok(Some(grant)),
            Err(ClientError::Api { code, .. }) if code == "no_job" => Ok(None),
            Err(e) => Err(e),
        }
    }
}
