//! Measures the contract's `exp`, `ln`, `tanh` and `erf` (docs/determinism.md)
//! against f64 references (std's, and the `libm` crate's `erf`) over every
//! f32 input (or a stride of them): the largest error in f32 ulps and how
//! many results are not the nearest f32 to the reference. Then the vectorised forms the kernels run
//! (`kernels::exp_in_place`, `tanh_in_place`, `erf_in_place`, on this CPU's widest vector
//! unit) against the scalar ones over the same inputs: how many differ.
//!
//! `cargo run --release -p evaluator --example contract_ulps [-- STRIDE]`
//! (STRIDE 1, the default, is all 2³² inputs: about a minute per function on 2 cores).

use evaluator::{kernels, math};

/// `|got − want|` in f32 ulps of `want` (both finite), 0 when equal.
fn ulps(got: f32, want: f64) -> f64 {
    if got.is_nan() && want.is_nan() || f64::from(got) == want {
        return 0.0;
    }
    let w = want as f32;
    if w.is_infinite() || got.is_infinite() {
        return if got == w { 0.0 } else { f64::INFINITY };
    }
    let a = w.abs().max(f32::from_bits(1));
    let ulp = f64::from(f32::from_bits(a.to_bits() + 1)) - f64::from(a);
    (f64::from(got) - want).abs() / ulp
}

/// A contract function and its f64 reference.
type Case = (&'static str, fn(f32) -> f32, fn(f64) -> f64);

/// A vectorised form and the scalar one it must equal.
type VectorCase = (&'static str, fn(&mut [f32]), fn(f32) -> f32);

struct Tally {
    max_ulps: f64,
    worst: f32,
    not_nearest: u64,
    checked: u64,
}

fn measure(f: fn(f32) -> f32, reference: fn(f64) -> f64, stride: u64) -> Tally {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let parts: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut tally = Tally {
                        max_ulps: 0.0,
                        worst: 0.0,
                        not_nearest: 0,
                        checked: 0,
                    };
                    let mut bits = t * stride;
                    while bits <= u64::from(u32::MAX) {
                        let x = f32::from_bits(bits as u32);
                        let want = reference(f64::from(x));
                        let got = f(x);
                        let e = ulps(got, want);
                        if e > tally.max_ulps {
                            tally.max_ulps = e;
                            tally.worst = x;
                        }
                        let nearest = want as f32;
                        if got.to_bits() != nearest.to_bits() && !(got.is_nan() && nearest.is_nan())
                        {
                            tally.not_nearest += 1;
                        }
                        tally.checked += 1;
                        bits += threads * stride;
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    parts.into_iter().fold(
        Tally {
            max_ulps: 0.0,
            worst: 0.0,
            not_nearest: 0,
            checked: 0,
        },
        |a, b| Tally {
            max_ulps: a.max_ulps.max(b.max_ulps),
            worst: if b.max_ulps > a.max_ulps {
                b.worst
            } else {
                a.worst
            },
            not_nearest: a.not_nearest + b.not_nearest,
            checked: a.checked + b.checked,
        },
    )
}

fn main() {
    let stride: u64 = std::env::args()
        .nth(1)
        .map_or(1, |s| s.parse().expect("STRIDE is a positive integer"))
        .max(1);
    println!(
        "{:<6} {:>12} {:>12} {:>14} {:>16}",
        "fn", "inputs", "max ulps", "at", "not nearest"
    );
    let cases: [Case; 4] = [
        ("exp", math::exp, f64::exp),
        ("ln", math::ln, f64::ln),
        ("tanh", math::tanh, f64::tanh),
        ("erf", math::erf, libm::erf),
    ];
    for (name, f, reference) in cases {
        let started = std::time::Instant::now();
        let t = measure(f, reference, stride);
        println!(
            "{name:<6} {:>12} {:>12.6} {:>14e} {:>16}   ({:.0} s)",
            t.checked,
            t.max_ulps,
            t.worst,
            t.not_nearest,
            started.elapsed().as_secs_f64()
        );
    }
    println!();
    println!("{:<6} {:>12} {:>16}", "vector", "inputs", "differ (bits)");
    let vectors: [VectorCase; 3] = [
        ("exp", kernels::exp_in_place, math::exp),
        ("tanh", kernels::tanh_in_place, math::tanh),
        ("erf", kernels::erf_in_place, math::erf),
    ];
    for (name, vector, scalar) in vectors {
        let started = std::time::Instant::now();
        let (checked, differ) = compare_vector(vector, scalar, stride);
        println!(
            "{name:<6} {checked:>12} {differ:>16}   ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
}

/// Inputs `0, stride, 2·stride, …` in blocks through the vectorised form and
/// one at a time through the scalar one: (inputs, results whose bits differ).
fn compare_vector(vector: fn(&mut [f32]), scalar: fn(f32) -> f32, stride: u64) -> (u64, u64) {
    let inputs: Vec<u32> = (0..=u64::from(u32::MAX))
        .step_by(stride as usize)
        .map(|b| b as u32)
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = inputs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let mut differ = 0u64;
                    let mut block = vec![0f32; 1 << 16];
                    for bits in part.chunks(1 << 16) {
                        let block = &mut block[..bits.len()];
                        for (v, b) in block.iter_mut().zip(bits) {
                            *v = f32::from_bits(*b);
                        }
                        vector(block);
                        for (v, b) in block.iter().zip(bits) {
                            differ +=
                                u64::from(v.to_bits() != scalar(f32::from_bits(*b)).to_bits());
                        }
                    }
                    differ
                })
            })
            .collect();
        let differ = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (inputs.len() as u64, differ)
    })
}
