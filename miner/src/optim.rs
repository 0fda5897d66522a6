//! AdamW with decoupled weight decay on matrices, its state kept as tensors
//! so a checkpoint can save and restore it exactly. On the CPU the update is
//! done in place by `fused::adamw_update`; elsewhere with tensor ops.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::fused::{AdamWStep, adamw_update};

/// AdamW hyper-parameters and state.
#[derive(Debug)]
pub struct AdamW {
    /// Learning rate (the schedule sets it every step).
    pub lr: f64,
    /// Decoupled weight decay, applied to parameters of rank ≥ 2 only.
    pub weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Steps taken.
    pub step: u64,
    vars: Vec<Var>,
    /// First moments, one per var.
    pub m: Vec<Tensor>,
    /// Second moments, one per var.
    pub v: Vec<Tensor>,
}

impl AdamW {
    /// A fresh optimizer over `vars` (in the order their names sort).
    pub fn new(vars: Vec<Var>, lr: f64, weight_decay: f64) -> candle_core::Result<AdamW> {
        // Two separate allocations: the CPU update writes moments in place.
        let zeros = || {
            vars.iter()
                .map(|v| v.as_tensor().zeros_like())
                .collect::<candle_core::Result<Vec<_>>>()
        };
        let (m, v) = (zeros()?, zeros()?);
        Ok(AdamW {
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            vars,
            m,
            v,
        })
    }

    /// One update from `grads`. A var without a gradient is left alone.
    pub fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for i in 0..self.vars.len() {
            let var = &self.vars[i];
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let decay = if var.rank() >= 2 {
                self.weight_decay
            } else {
                0.0
            };
            if var.device().is_cpu() {
                let s = AdamWStep {
                    lr: self.lr,
                    decay,
                    betas: (self.beta1, self.beta2),
                    corrections: (c1, c2),
                    eps: self.eps,
                };
                adamw_update(var.as_tensor(), &self.m[i], &self.v[i], g, s)?;
                continue;
            }
            self.m[i] = ((&self.m[i] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            self.v[i] = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let m_hat = (&self.m[i] / c1)?;
            let v_hat = (&self.v[i] / c2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let theta = var.as_tensor();
            let decayed = (theta * (1.0 - self.lr * decay))?;
            var.set(&(decayed - (update * self.lr)?)?)?;
        }
        Ok(())
    }
}
