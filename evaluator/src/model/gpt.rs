//! The `gpt` family's network: embeddings, pre-norm blocks of causal
//! attention and a GELU MLP, a final layer norm and the LM head.

use bounties::arch::{GptSpec, LAYER_NORM_EPS};

use super::{Dense, Weights, split_rows};
use crate::kernels;

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
