//! The `gpt` family's network: embeddings, pre-norm blocks of causal
//! attention and a GELU MLP, a final layer norm and the LM head.

use bounties::arch::{GptSpec, LAYER_NORM_EPS};

use bounties::Score;
use bounties::spec::Metric;
use datasets::Dataset;

use super::{Dense, Network, Weights, split_rows};
use crate::kernels;
use crate::score::{ScoreError, div_half_even, to_fixed};

#[derive(Clone, Debug)]
struct Block {
    ln1: (Vec<f32>, Vec<f32>),
    qkv: Dense,
    proj: Dense,
    ln2: (Vec<f32>, Vec<f32>),
    fc: Dense,
    fc_proj: Dense,
}

/// A checked gpt.
#[derive(Clone, Debug)]
pub(super) struct Gpt {
    spec: GptSpec,
    tok: Vec<f32>,
    pos: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: (Vec<f32>, Vec<f32>),
    head: Dense,
}

impl Gpt {
    /// The network of a checked file.
    pub(super) fn load(spec: &GptSpec, w: &Weights<'_>) -> Gpt {
        Gpt {
            spec: spec.clone(),
            tok: w.get("tok_emb.weight"),
            pos: w.get("pos_emb.weight"),
            blocks: (0..spec.layers)
                .map(|i| {
                    let p = format!("blocks.{i}");
                    Block {
                        ln1: w.norm(&format!("{p}.ln1")),
                        qkv: w.dense(&format!("{p}.attn.qkv"), true),
                        proj: w.dense(&format!("{p}.attn.proj"), true),
                        ln2: w.norm(&format!("{p}.ln2")),
                        fc: w.dense(&format!("{p}.mlp.fc"), true),
                        fc_proj: w.dense(&format!("{p}.mlp.proj"), true),
                    }
                })
                .collect(),
            ln_f: w.norm("ln_f"),
            head: w.dense("head", false),
        }
    }

    /// Logits (`[sequences · t, vocab]`) for token ids `[sequences, t]`.
    pub(super) fn forward(&self, ids: &[u32], t: usize, threads: usize) -> Vec<f32> {
        let d = self.spec.width as usize;
        let rows = ids.len();
        let sequences = rows / t;
        let mut x = Vec::with_capacity(rows * d);
        for (i, &id) in ids.iter().enumerate() {
            let p = i % t;
            let (tok, pos) = (&self.tok[id as usize * d..][..d], &self.pos[p * d..][..d]);
            x.extend(tok.iter().zip(pos).map(|(a, b)| a + b));
        }
        let norm = |x: &[f32], (gain, bias): &(Vec<f32>, Vec<f32>)| {
            let mut h = vec![0f32; x.len()];
            split_rows(x, &mut h, d, d, threads, |xs, hs| {
                kernels::layer_norm(xs, gain, bias, d, LAYER_NORM_EPS, hs);
            });
            h
        };
        for block in &self.blocks {
            let qkv = block.qkv.apply(&norm(&x, &block.ln1), rows, threads);
            let att = attention(&qkv, sequences, t, d, self.spec.heads as usize, threads);
            kernels::add_in_place(&mut x, &block.proj.apply(&att, rows, threads));
            let mut f = block.fc.apply(&norm(&x, &block.ln2), rows, threads);
            let width = f.len() / rows.max(1);
            split_rows(&[], &mut f, 0, width, threads, |_, fs| kernels::gelu(fs));
            kernels::add_in_place(&mut x, &block.fc_proj.apply(&f, rows, threads));
        }
        self.head.apply(&norm(&x, &self.ln_f), rows, threads)
    }
}

/// Causal attention for every sequence; sequences are split across threads.
fn attention(
    qkv: &[f32],
    sequences: usize,
    t: usize,
    d: usize,
    heads: usize,
    threads: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; sequences * t * d];
    let per = sequences.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (q, o) in qkv.chunks(per * t * 3 * d).zip(out.chunks_mut(per * t * d)) {
            s.spawn(move || {
                for (qs, os) in q.chunks(t * 3 * d).zip(o.chunks_mut(t * d)) {
                    os.copy_from_slice(&kernels::causal_attention(qs, t, d, heads));
                }
            });
        }
    });
    out
}

/// Sequences scored per forward pass (bounds memory; results do not depend on it).
const GPT_SEQUENCES: usize = 32;

/// Per-example scores on a language-model dataset: each sequence's mean
/// token loss (or accuracy).
impl Network for Gpt {
    fn score(
        &self,
        dataset: &Dataset,
        metric: Metric,
        threads: usize,
    ) -> Result<Vec<i64>, ScoreError> {
        let spec = &self.spec;
        let vocab = dataset.vocabulary().map_or(0, |v| v.len());
        if spec.vocab as usize != vocab {
            return Err(ScoreError::Mismatch(format!(
                "the model's vocabulary is {}, the dataset's {vocab}",
                spec.vocab
            )));
        }
        let t = dataset.inputs.shape[1] as usize;
        if t > spec.context as usize {
            return Err(ScoreError::Mismatch(format!(
                "sequences of {t} exceed the model's context {}",
                spec.context
            )));
        }
        if metric == Metric::Mse {
            return Err(ScoreError::Mismatch(
                "MSE does not fit a language model".into(),
            ));
        }
        let n = dataset.examples() as usize;
        let (ids, targets) = (
            dataset.inputs.token_ids().expect("validated token ids"),
            dataset.targets.token_ids().expect("validated token ids"),
        );
        let v = spec.vocab as usize;
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(GPT_SEQUENCES) {
            let seqs = GPT_SEQUENCES.min(n - start);
            let logits = self.forward(&ids[start * t..(start + seqs) * t], t, threads);
            for s in 0..seqs {
                let mut loss = 0f64;
                let mut right = 0i64;
                for p in 0..t {
                    let row = &logits[(s * t + p) * v..(s * t + p + 1) * v];
                    let target = targets[(start + s) * t + p] as usize;
                    match metric {
                        Metric::Accuracy => right += i64::from(kernels::argmax(row) == target),
                        _ => loss += f64::from(-kernels::log_softmax(row)[target]),
                    }
                }
                out.push(match metric {
                    Metric::Accuracy => div_half_even(i128::from(right * Score::SCALE), t as i128),
                    _ => to_fixed(loss / t as f64),
                });
            }
        }
        Ok(out)
    }
}
