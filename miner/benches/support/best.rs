//! The benches' timer: the fastest of a few rounds, after one to warm up.

use std::time::Instant;

/// The fastest of `rounds` runs of `f`, in seconds, after one untimed run.
pub fn best(rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}
