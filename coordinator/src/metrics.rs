//! Counters for `/metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    appended: AtomicU64,
    commits: AtomicU64,
    head_seq: AtomicU64,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    http: Mutex<BTreeMap<u16, u64>>,
    upload_bytes: AtomicU64,
    uploads: AtomicU64,
    uploads_refused: AtomicU64,
    download_bytes: AtomicU64,
    leases: AtomicU64,
    closes: AtomicU64,
    leader_changes: AtomicU64,
    leading: AtomicU64,
    epoch: AtomicU64,
    followed: AtomicU64,
    lag: AtomicU64,
}

impl Metrics {
    /// A batch of `n` entries committed; the head is now `head`.
    pub fn committed(&self, n: usize, head: u64) {
        self.appended.fetch_add(n as u64, Relaxed);
        self.commits.fetch_add(1, Relaxed);
        self.head_seq.store(head, Relaxed);
    }

    /// Entries committed and the transactions they took, so far.
    pub fn commits(&self) -> (u64, u64) {
        (self.appended.load(Relaxed), self.commits.load(Relaxed))
    }

    /// The head at start-up.
    pub fn set_head(&self, head: u64) {
        self.head_seq.store(head, Relaxed);
    }

    /// A message was rejected.
    pub fn rejected(&self, code: &'static str) {
        *self
            .rejections
            .lock()
            .expect("lock")
            .entry(code)
            .or_default() += 1;
    }

    /// An HTTP response was sent.
    pub fn response(&self, status: u16) {
        *self.http.lock().expect("lock").entry(status).or_default() += 1;
    }

    /// An upload was stored.
    pub fn uploaded(&self, bytes: u64) {
        self.uploads.fetch_add(1, Relaxed);
        self.upload_bytes.fetch_add(bytes, Relaxed);
    }

    /// An upload was refused.
    pub fn upload_refused(&self) {
        self.uploads_refused.fetch_add(1, Relaxed);
    }

    /// Bytes served from the artifact store.
    pub fn downloaded(&self, bytes: u64) {
        self.download_bytes.fetch_add(bytes, Relaxed);
    }

    /// A job lease was handed out.
    pub fn leased(&self) {
        self.leases.fetch_add(1, Relaxed);
    }

    /// The scheduler closed a bounty.
    pub fn closed(&self) {
        self.closes.fetch_add(1, Relaxed);
    }

    /// This front-end took (`leads`) or gave up the lead of `epoch`.
    pub fn leader_changed(&self, epoch: u64, leads: bool) {
        self.leader_changes.fetch_add(1, Relaxed);
        self.leading.store(u64::from(leads), Relaxed);
        self.epoch.store(epoch, Relaxed);
    }

    /// The epoch this front-end last took or gave up (0: never).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// A follower found the store `lag` entries ahead of it, and applied `n`.
    pub fn followed(&self, lag: u64, n: u64) {
        self.lag.store(lag, Relaxed);
        self.followed.fetch_add(n, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "bounties_entries_appended_total",
            "Log entries committed.",
            self.appended.load(Relaxed),
        );
        counter(
            "bounties_commits_total",
            "Group-commit transactions.",
            self.commits.load(Relaxed),
        );
        counter(
            "bounties_upload_bytes_total",
            "Artifact bytes accepted.",
            self.upload_bytes.load(Relaxed),
        );
        counter(
            "bounties_uploads_total",
            "Artifacts accepted.",
            self.uploads.load(Relaxed),
        );
        counter(
            "bounties_uploads_refused_total",
            "Uploads refused.",
            self.uploads_refused.load(Relaxed),
        );
        counter(
            "bounties_download_bytes_total",
            "Artifact bytes served.",
            self.download_bytes.load(Relaxed),
        );
        counter(
            "bounties_job_leases_total",
            "Evaluation jobs leased.",
            self.leases.load(Relaxed),
        );
        counter(
            "bounties_scheduled_closes_total",
            "Bounties closed by the scheduler.",
            self.closes.load(Relaxed),
        );
        counter(
            "bounties_leader_changes_total",
            "Times this front-end took or gave up the writer's lock.",
            self.leader_changes.load(Relaxed),
        );
        counter(
            "bounties_followed_entries_total",
            "Entries applied from the store while following.",
            self.followed.load(Relaxed),
        );
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "bounties_leader",
            "1 while this front-end writes the log.",
            self.leading.load(Relaxed),
        );
        gauge(
            "bounties_leader_epoch",
            "The writer's term this front-end last took or gave up.",
            self.epoch.load(Relaxed),
        );
        gauge(
            "bounties_follower_lag_entries",
            "Entries the store held past this follower's head when it last looked.",
            self.lag.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP bounties_head_seq The last committed seq.\n# TYPE bounties_head_seq gauge\nbounties_head_seq {}",
            self.head_seq.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP bounties_rejections_total Messages rejected, by reason.\n# TYPE bounties_rejections_total counter"
        );
        for (code, n) in self.rejections.lock().expect("lock").iter() {
            let _ = writeln!(out, "bounties_rejections_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP bounties_http_responses_total HTTP responses, by status.\n# TYPE bounties_http_responses_total counter"
        );
        for (status, n) in self.http.lock().expect("lock").iter() {
            let _ = writeln!(
                out,
                "bounties_http_responses_total{{status=\"{status}\"}} {n}"
            );
        }
        out
    }
}
