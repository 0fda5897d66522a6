//! The evaluator's deterministic kernels beside candle's CPU forward, same
//! thread count, same weights, one run: matmul GFLOP/s at 256³, 1024³ and
//! 64×768×3072; mlp examples/s on MNIST; gpt (4 layers, width 128, context 64)
//! tokens/s on Shakespeare.
//! Run: `cargo bench -p miner --bench forward`.

// A bench is a shell: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::Instant;

use bounties::arch::Architecture;
use candle_core::{Device, Tensor};
use datasets::bundled::{self, DEFAULT_SEED};
use evaluator::kernels;
use evaluator::model::{Limits, Model};
use miner::model::Params;

fn best(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) - 0.5
        })
        .collect()
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("threads: {threads} (evaluator) / candle's default pool ({threads} on this machine)");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "", "evaluator", "candle", "ratio"
    );
    let dev = Device::Cpu;
    for (m, k, n) in [(256, 256, 256), (1024, 1024, 1024), (64, 768, 3072)] {
        let (x, w) = (values(m * k, 1), values(k * n, 2));
        let flops = 2.0 * (m * k * n) as f64;
        let rounds = if m * k * n > 100_000_000 { 3 } else { 10 };
        // The evaluator packs a model's weights once, at load.
        let packed = kernels::Packed::new(&w, k, n);
        let ours = best(rounds, || {
            std::hint::black_box(kernels::matmul(&x, &packed, None, m, threads));
        });
        let (xt, wt) = (
            Tensor::from_vec(x.clone(), (m, k), &dev).unwrap(),
            Tensor::from_vec(w.clone(), (k, n), &dev).unwrap(),
        );
        let theirs = best(rounds, || {
            std::hint::black_box(xt.matmul(&wt).unwrap());
        });
        println!(
            "{:<34} {:>8.1} GF/s {:>8.1} GF/s {:>7.2}x",
            format!("matmul {m}x{k}x{n}"),
            flops / ours / 1e9,
            flops / theirs / 1e9,
            theirs / ours
        );
    }

    let mnist = bundled::split("mnist", DEFAULT_SEED).unwrap().hidden;
    let rows = mnist.examples() as usize;
    let x = mnist.inputs_f32();
    for (label, arch, input) in [
        ("mlp 784-256-128-10, MNIST", "mlp:784,256,128,10", None),
        (
            "gpt 4x128, context 64",
            "gpt:vocab=96,context=64,layers=4,width=128,heads=4",
            Some(32usize),
        ),
    ] {
        let arch: Architecture = arch.parse().unwrap();
        let params = Params::init(&arch, "bench", &dev).unwrap();
        let model = Model::from_bytes(
            &params.to_file(&BTreeMap::new()).unwrap(),
            Limits::default(),
        )
        .unwrap();
        let (ours, theirs, units, unit) = match input {
            None => {
                let xt = Tensor::from_vec(x.clone(), (rows, 784), &dev).unwrap();
                let ours = best(5, || {
                    std::hint::black_box(model.forward_mlp(&x, rows, threads));
                });
                let theirs = best(5, || {
                    std::hint::black_box(params.forward(&xt).unwrap());
                });
                (ours, theirs, rows as f64, "examples/s")
            }
            Some(b) => {
                let text = bundled::split("shakespeare", DEFAULT_SEED).unwrap().hidden;
                let ids = &text.inputs.data[..b * 64];
                let idt = Tensor::from_vec(
                    ids.iter().map(|&i| u32::from(i)).collect::<Vec<u32>>(),
                    (b, 64),
                    &dev,
                )
                .unwrap();
                let ours = best(3, || {
                    std::hint::black_box(model.forward_gpt(ids, 64, threads));
                });
                let theirs = best(3, || {
                    std::hint::black_box(params.forward(&idt).unwrap());
                });
                (ours, theirs, (b * 64) as f64, "tokens/s")
            }
        };
        println!(
            "{:<34} {:>12.0} {:>12.0} {:>7.2}x  ({unit})",
            label,
            units / ours,
            units / theirs,
            theirs / ours
        );
    }
}
