//! Loading the committed MNIST file into tensors, beside plain gzip decompression of the same bytes.
//!
//! Reports MB/s (of decompressed IDX data) and peak heap for each, measured in
//! the same run. Target: the full load within 2x of decompression alone.
//! Run: `cargo bench -p datasets --bench load`.

// A bench is a shell: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::time::Instant;

use datasets::bundled::raw;
use datasets::idx::load_idx;

/// A /proc/self/status field in bytes (Linux).
fn status_kb(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<usize>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Best time of `rounds`, and the peak resident memory above the baseline:
/// the kernel's high-water mark (VmHWM), reset before each round by writing
/// 5 to /proc/self/clear_refs.
fn measure<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, Option<usize>) {
    let mut best = f64::MAX;
    let mut peak: Option<usize> = None;
    for _ in 0..rounds {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let base = status_kb("VmRSS:");
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64());
        if let (true, Some(base), Some(hwm)) = (reset, base, status_kb("VmHWM:")) {
            peak = Some(peak.unwrap_or(0).max(hwm.saturating_sub(base)));
        }
        drop(out);
    }
    (best, peak)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn main() {
    let data_mb =
        (gunzip(raw::MNIST_IMAGES_GZ).len() + gunzip(raw::MNIST_LABELS_GZ).len()) as f64 / 1e6;
    let rounds = 15;
    let (t_gz, m_gz) = measure(rounds, || {
        (gunzip(raw::MNIST_IMAGES_GZ), gunzip(raw::MNIST_LABELS_GZ))
    });
    let (t_load, m_load) = measure(rounds, || {
        load_idx(
            (raw::MNIST_IMAGES_GZ, "images"),
            (raw::MNIST_LABELS_GZ, "labels"),
            "mnist",
            "MIT",
            "bench",
        )
        .unwrap()
    });
    let mb = |t: f64| data_mb / t;
    println!(
        "MNIST 10k: {:.2} MB of IDX data from {:.2} MB of gzip (best of {rounds})",
        data_mb,
        (raw::MNIST_IMAGES_GZ.len() + raw::MNIST_LABELS_GZ.len()) as f64 / 1e6
    );
    let mem =
        |m: Option<usize>| m.map_or("n/a".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6));
    println!(
        "gzip decompression only   {:7.2} ms  {:7.1} MB/s  peak RSS +{}",
        t_gz * 1e3,
        mb(t_gz),
        mem(m_gz)
    );
    println!(
        "load into tensors         {:7.2} ms  {:7.1} MB/s  peak RSS +{}",
        t_load * 1e3,
        mb(t_load),
        mem(m_load)
    );
    println!(
        "ratio load / decompression: time {:.2}x (target <= 2x)",
        t_load / t_gz
    );
}
