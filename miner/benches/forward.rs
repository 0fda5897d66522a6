//! The evaluator's deterministic kernels beside candle's CPU forward and
//! PyTorch's (`torch.inference_mode()`, miner/scripts/torch_forward.py, run
//! by `TORCH_PYTHON` or `python3`; its column is "-" without torch), same
//! thread count, same weights, one run: matmul GFLOP/s at 256³, 1024³ and
//! 64×768×3072; mlp examples/s on MNIST; gpt (4 layers, width 128, context 64)
//! tokens/s on Shakespeare. Then `evaluator::score` on whole hidden splits
//! (MNIST, Moby Dick) with 1 and all threads: examples/s, tokens/s, and the
//! speed-up threads give.
//! Run: `cargo bench -p miner --bench forward`.

// A bench is a shell: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;

use bounties::arch::Architecture;
use bounties::spec::Metric;
use candle_core::{Device, Tensor};
use datasets::bundled::{self, DEFAULT_SEED};
use evaluator::kernels;
use evaluator::model::{Limits, Model};
use evaluator::score;
use miner::model::Params;

#[path = "support/best.rs"]
mod timing;
#[path = "support/torch.rs"]
mod torch;

use timing::best;

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

/// PyTorch's figures for the same rows, from miner/scripts/torch_forward.py
/// run by `TORCH_PYTHON` (or `python3`): `None` where torch is not installed.
fn torch_figures(
    threads: usize,
    mlp: &std::path::Path,
    gpt: &std::path::Path,
    rows: usize,
    sequences: usize,
) -> BTreeMap<String, f64> {
    let out = torch::command("torch_forward.py")
        .arg(threads.to_string())
        .arg(mlp)
        .arg(gpt)
        .arg(rows.to_string())
        .arg(sequences.to_string())
        .output();
    let mut figures = BTreeMap::new();
    match out {
        Ok(out) if out.status.success() => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((key, value)) = line.rsplit_once(' ')
                    && let Ok(v) = value.parse::<f64>()
                {
                    figures.insert(key.to_string(), v);
                }
            }
        }
        Ok(out) => eprintln!(
            "torch_forward.py failed (no PyTorch column): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => eprintln!("no python for the PyTorch column: {e}"),
    }
    figures
}

/// One row: our figure, candle's, PyTorch's (if any), and the two ratios.
fn row(label: &str, ours: f64, candle: f64, torch: Option<f64>, unit: &str) {
    let torch_text = torch.map_or("-".to_string(), |t| format!("{t:.1}"));
    let torch_ratio = torch.map_or("-".to_string(), |t| format!("{:.2}x", ours / t));
    println!(
        "{label:<34} {ours:>11.1} {candle:>11.1} {torch_text:>11} {:>8.2}x {torch_ratio:>8}  ({unit})",
        ours / candle
    );
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dev = Device::Cpu;
    let mnist = bundled::split("mnist", DEFAULT_SEED).unwrap().hidden;
    let rows = mnist.examples() as usize;
    let sequences = 32usize;
    let models = [
        ("mlp 784-256-128-10, MNIST", "mlp:784,256,128,10"),
        (
            "gpt 4x128, context 64",
            "gpt:vocab=96,context=64,layers=4,width=128,heads=4",
        ),
    ]
    .map(|(label, arch)| {
        let arch: Architecture = arch.parse().unwrap();
        let params = Params::init(&arch, "bench", &dev).unwrap();
        let bytes = params.to_file(&BTreeMap::new()).unwrap();
        (label, params, bytes)
    });
    let dir = std::env::temp_dir().join(format!("forward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mlp_file, gpt_file) = (dir.join("mlp.safetensors"), dir.join("gpt.safetensors"));
    std::fs::write(&mlp_file, &models[0].2).unwrap();
    std::fs::write(&gpt_file, &models[1].2).unwrap();
    // PyTorch runs first, alone, so that it never shares the cores with us.
    let torch = torch_figures(threads, &mlp_file, &gpt_file, rows, sequences);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "threads: {threads} (evaluator) / candle's default pool / torch.set_num_threads({threads})"
    );
    println!(
        "{:<34} {:>11} {:>11} {:>11} {:>9} {:>8}",
        "", "evaluator", "candle", "pytorch", "/candle", "/pytorch"
    );
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
        let label = format!("matmul {m}x{k}x{n}");
        let torch = torch.get(&label).copied();
        row(
            &label,
            flops / ours / 1e9,
            flops / theirs / 1e9,
            torch,
            "GFLOP/s",
        );
    }

    let x = mnist.inputs_f32();
    for (i, (label, params, bytes)) in models.iter().enumerate() {
        let model = Model::from_bytes(bytes, Limits::default()).unwrap();
        let (ours, theirs, units, unit, key) = if i == 0 {
            let xt = Tensor::from_vec(x.clone(), (rows, 784), &dev).unwrap();
            let ours = best(5, || {
                std::hint::black_box(model.forward_mlp(&x, rows, threads).unwrap());
            });
            let theirs = best(5, || {
                std::hint::black_box(params.forward(&xt).unwrap());
            });
            (ours, theirs, rows as f64, "examples/s", "mlp")
        } else {
            let text = bundled::split("shakespeare", DEFAULT_SEED).unwrap().hidden;
            let ids = &text.inputs.token_ids().unwrap()[..sequences * 64];
            let idt = Tensor::from_vec(ids.to_vec(), (sequences, 64), &dev).unwrap();
            let ours = best(3, || {
                std::hint::black_box(model.forward_gpt(ids, 64, threads).unwrap());
            });
            let theirs = best(3, || {
                std::hint::black_box(params.forward(&idt).unwrap());
            });
            (ours, theirs, (sequences * 64) as f64, "tokens/s", "gpt")
        };
        let torch = torch.get(key).copied();
        row(label, units / ours, units / theirs, torch, unit);
    }
    score_whole_splits(threads);
}

/// `evaluator::score` on whole hidden splits, as `evaluator score` runs it.
fn score_whole_splits(threads: usize) {
    let dev = Device::Cpu;
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "evaluator score, whole hidden split",
        "1 thread",
        format!("{threads} threads"),
        "speed-up"
    );
    for (name, arch, metric) in [
        ("mnist", "mlp:784,256,128,10".to_string(), Metric::Accuracy),
        ("moby-dick", String::new(), Metric::CrossEntropy),
    ] {
        let data = bundled::split(name, DEFAULT_SEED).unwrap().hidden;
        let (examples, t) = (data.examples() as usize, data.inputs.shape[1] as usize);
        let arch = if arch.is_empty() {
            let vocab = data.vocabulary().map_or(0, |v| v.len());
            format!("gpt:vocab={vocab},context={t},layers=4,width=128,heads=4")
        } else {
            arch
        };
        let arch: Architecture = arch.parse().unwrap();
        let params = Params::init(&arch, "bench", &dev).unwrap();
        let model = Model::from_bytes(
            &params.to_file(&BTreeMap::new()).unwrap(),
            Limits::default(),
        )
        .unwrap();
        let rounds = if examples * t > 1_000_000 { 1 } else { 3 };
        let one = best(rounds, || {
            std::hint::black_box(score::score(&model, &data, metric, 1).unwrap());
        });
        let all = best(rounds, || {
            std::hint::black_box(score::score(&model, &data, metric, threads).unwrap());
        });
        let (units, unit) = if name == "mnist" {
            (examples as f64, "examples/s")
        } else {
            ((examples * t) as f64, "tokens/s")
        };
        println!(
            "{:<34} {:>12.0} {:>12.0} {:>7.2}x  ({unit}; {examples} examples)",
            format!("{name} ({})", model.arch),
            units / one,
            units / all,
            one / all
        );
    }
}
