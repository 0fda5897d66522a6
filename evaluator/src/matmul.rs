//! The contract's matrix product (docs/determinism.md): weights packed once
//! at load into 16-column panels, register-tiled micro-kernels written with
//! the CPU's vector FMA (AVX-512, AVX2) or the exact software FMA, threads
//! split across output tiles. Every output element is one chain
//! `acc = fma(x[k], w[k], acc)` in natural `k` order from `+0.0`, then the
//! bias added once, whatever the CPU, tile shape or thread count.

use std::ops::Range;

use crate::math;

/// Columns per packed panel: one AVX-512 register, two AVX2 registers.
pub const PANEL: usize = 16;
/// The largest k-block: a micro-kernel's weight strip (`KC × 32` floats, 32 KB) stays in L1.
const KC: usize = 256;
/// Row tiles per packed block of `x`: at most `KC × 8 × 16` floats (128 KB), in L2.
const TILES_PER_BLOCK: usize = 16;
/// Below this many multiply-adds (some 50 µs of one core's work) a second
/// thread costs more than it saves.
const PARALLEL_MIN: usize = 1 << 22;

/// A weight matrix `[k, n]` packed once, at load, for [`matmul`]: column
/// panel `p` holds columns `16p..16p+16` as `[k][16]`, contiguous, the
/// columns past `n` zero. A micro-kernel then reads each weight strip as
/// consecutive vectors, and a power-of-two `n` never maps a strip's rows onto
/// the same cache sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    /// Pack `w` stored input-major (`[k, n]`).
    pub fn new(w: &[f32], k: usize, n: usize) -> Packed {
        assert_eq!(w.len(), k * n, "matmul: w is not [k, n]");
        Packed::build(k, n, |kk, col| w[kk * n + col])
    }

    /// Pack `w` stored output-major (`[n, k]`, as files store a layer's
    /// weight `[out, in]`): no transpose in between.
    pub fn from_out_in(w: &[f32], n: usize, k: usize) -> Packed {
        assert_eq!(w.len(), k * n, "matmul: w is not [out, in]");
        Packed::build(k, n, |kk, col| w[col * k + kk])
    }

    fn build(k: usize, n: usize, at: impl Fn(usize, usize) -> f32) -> Packed {
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0f32; panels * k * PANEL];
        for (p, panel) in data.chunks_exact_mut(k * PANEL).enumerate() {
            for (kk, row) in panel.chunks_exact_mut(PANEL).enumerate() {
                for (c, v) in row.iter_mut().enumerate() {
                    let col = p * PANEL + c;
                    if col < n {
                        *v = at(kk, col);
                    }
                }
            }
        }
        Packed { k, n, data }
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// Rows `k0..k0 + kc` of panel `p`.
    fn strip(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        let start = p * self.k * PANEL + k0 * PANEL;
        &self.data[start..start + kc * PANEL]
    }
}

/// `y[m, n] = x[m, k] · w (+ bias[n])`. Threads take whole output tiles
/// (row ranges, or column panels when there are more of those); the result
/// does not depend on their number.
pub fn matmul(x: &[f32], w: &Packed, bias: Option<&[f32]>, m: usize, threads: usize) -> Vec<f32> {
    let (k, n) = (w.k, w.n);
    assert_eq!(x.len(), m * k, "matmul: x is not [m, k]");
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "matmul: bias is not [n]");
    }
    let mut y = vec![0f32; m * n];
    let isa = Isa::detect();
    let panels = w.panels();
    let threads = if m * k * n < PARALLEL_MIN {
        1
    } else {
        threads.max(1)
    };
    let (row_units, col_units) = (m.div_ceil(isa.rows()), panels.div_ceil(isa.group()));
    if threads == 1 || row_units.max(col_units) == 1 {
        isa.block(x, w, bias, 0..panels, &mut y);
    } else if row_units >= col_units {
        let rows_per = row_units.div_ceil(threads) * isa.rows();
        std::thread::scope(|s| {
            for (xs, ys) in x.chunks(rows_per * k).zip(y.chunks_mut(rows_per * n)) {
                s.spawn(move || isa.block(xs, w, bias, 0..panels, ys));
            }
        });
    } else {
        // Column panels: each thread fills its own `[m, cols]` block, copied
        // into place after (m·n copies against m·k·n multiply-adds).
        let per = col_units.div_ceil(threads) * isa.group();
        let parts: Vec<(Range<usize>, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..panels)
                .step_by(per)
                .map(|p0| {
                    let range = p0..(p0 + per).min(panels);
                    s.spawn(move || {
                        let cols = (range.end * PANEL).min(n) - range.start * PANEL;
                        let mut part = vec![0f32; m * cols];
                        isa.block(x, w, bias, range.clone(), &mut part);
                        (range, part)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a matmul thread panicked"))
                .collect()
        });
        for (range, part) in parts {
            let c0 = range.start * PANEL;
            let cols = part.len() / m.max(1);
            for (row, src) in y.chunks_exact_mut(n).zip(part.chunks_exact(cols)) {
                row[c0..c0 + cols].copy_from_slice(src);
            }
        }
    }
    y
}

/// The vector unit a product runs on, chosen once per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// 8 rows × 32 columns of accumulators: 16 of the 32 zmm registers.
    Avx512,
    /// 6 rows × 16 columns: 12 of the 16 ymm registers.
    Avx2,
    /// 4 rows × 16 columns and the software FMA: SSE2 (every x86-64) and
    /// other architectures; slow where there is no FMA unit, the same bits.
    Portable,
}

impl Isa {
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Rows of a register tile.
    fn rows(self) -> usize {
        match self {
            Isa::Avx512 => 8,
            Isa::Avx2 => 6,
            Isa::Portable => 4,
        }
    }

    /// Panels of a register tile.
    fn group(self) -> usize {
        match self {
            Isa::Avx512 => 2,
            Isa::Avx2 | Isa::Portable => 1,
        }
    }

    /// Output columns of `panels` for the rows of `x`, into `out`
    /// (`[rows, columns of those panels]`).
    fn block(
        self,
        x: &[f32],
        w: &Packed,
        bias: Option<&[f32]>,
        panels: Range<usize>,
        out: &mut [f32],
    ) {
        let job = Block { x, w, bias, panels };
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this path after checking AVX-512F and FMA.
            #[allow(unsafe_code)]
            Isa::Avx512 => unsafe { avx512::block(job, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this path after checking AVX2 and FMA.
            #[allow(unsafe_code)]
            Isa::Avx2 => unsafe { avx2::block(job, out) },
            _ => drive::<4, 1>(job, out, portable_kernel::<4>),
        }
    }
}

/// One thread's share: the rows of `x`, the columns of `panels`.
struct Block<'a> {
    x: &'a [f32],
    w: &'a Packed,
    bias: Option<&'a [f32]>,
    panels: Range<usize>,
}

/// The accumulators of one register tile: `R` rows × `V` panels.
type Tile<const R: usize, const V: usize> = [[[f32; PANEL]; V]; R];

/// The loops around a micro-kernel: equal k-blocks of at most [`KC`], blocks of rows of
/// `x` packed as `[kc][R]` per tile (zero rows past the end), and register
/// tiles of `R` rows × `V` panels. A tile starts from the exact partial sums
/// it stored for the previous k-block, so each element's chain is unbroken.
#[inline(always)]
fn drive<const R: usize, const V: usize>(
    job: Block<'_>,
    out: &mut [f32],
    mut kernel: impl FnMut(&[f32], [&[f32]; V], &mut Tile<R, V>),
) {
    let Block { x, w, bias, panels } = job;
    let (k, n) = (w.k, w.n);
    let stride = (panels.end * PANEL).min(n) - panels.start * PANEL;
    if stride == 0 {
        return;
    }
    let m = out.len() / stride;
    if k == 0 {
        // An empty sum: the bias alone.
        for row in out.chunks_exact_mut(stride) {
            match bias {
                Some(b) => row.copy_from_slice(&b[panels.start * PANEL..][..stride]),
                None => row.fill(0.0),
            }
        }
        return;
    }
    // Equal k-blocks of at most KC: no short last block whose tiles would
    // spend more on loading and storing accumulators than on multiplying.
    let kb = k.div_ceil(k.div_ceil(KC));
    let zeros = vec![0f32; kb * PANEL];
    let mut xp = vec![0f32; TILES_PER_BLOCK * kb * R];
    let mut acc: Tile<R, V> = [[[0f32; PANEL]; V]; R];
    for k0 in (0..k).step_by(kb) {
        let kc = kb.min(k - k0);
        let last = k0 + kc == k;
        for i0 in (0..m).step_by(TILES_PER_BLOCK * R) {
            let tiles = (m - i0).min(TILES_PER_BLOCK * R).div_ceil(R);
            for (t, dst) in xp.chunks_exact_mut(kc * R).take(tiles).enumerate() {
                // Row r of the tile, or none past the end (zeros).
                let src: [Option<&[f32]>; R] = std::array::from_fn(|r| {
                    let i = i0 + t * R + r;
                    (i < m).then(|| &x[i * k + k0..i * k + k0 + kc])
                });
                for (kk, lanes) in dst.chunks_exact_mut(R).enumerate() {
                    for (lane, row) in lanes.iter_mut().zip(&src) {
                        *lane = row.map_or(0.0, |row| row[kk]);
                    }
                }
            }
            for g0 in panels.clone().step_by(V) {
                let strips: [&[f32]; V] = std::array::from_fn(|v| {
                    if g0 + v < panels.end {
                        w.strip(g0 + v, k0, kc)
                    } else {
                        &zeros[..kc * PANEL]
                    }
                });
                let c0 = (g0 - panels.start) * PANEL;
                let cols = (stride - c0).min(V * PANEL);
                for (t, xt) in xp.chunks_exact(kc * R).take(tiles).enumerate() {
                    let rows = (m - i0 - t * R).min(R);
                    let at = |r: usize| (i0 + t * R + r) * stride + c0;
                    for (r, a) in acc.iter_mut().enumerate() {
                        for (v, lanes) in a.iter_mut().enumerate() {
                            let (from, to) = ((v * PANEL).min(cols), ((v + 1) * PANEL).min(cols));
                            if k0 == 0 || r >= rows {
                                *lanes = [0.0; PANEL];
                            } else {
                                lanes[..to - from].copy_from_slice(&out[at(r) + from..at(r) + to]);
                            }
                        }
                    }
                    kernel(xt, strips, &mut acc);
                    for (r, a) in acc.iter().enumerate().take(rows) {
                        let row = &mut out[at(r)..at(r) + cols];
                        for (v, lanes) in a.iter().enumerate() {
                            let (from, to) = ((v * PANEL).min(cols), ((v + 1) * PANEL).min(cols));
                            row[from..to].copy_from_slice(&lanes[..to - from]);
                        }
                        if last && let Some(b) = bias {
                            let b = &b[g0 * PANEL..g0 * PANEL + cols];
                            for (y, bb) in row.iter_mut().zip(b) {
                                *y += *bb;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The portable micro-kernel: arrays the compiler may vectorise, and the
/// exact software FMA.
#[inline(always)]
fn portable_kernel<const R: usize>(xp: &[f32], w: [&[f32]; 1], acc: &mut Tile<R, 1>) {
    for (xr, wrow) in xp.chunks_exact(R).zip(w[0].chunks_exact(PANEL)) {
        for (a, &xv) in acc.iter_mut().zip(xr) {
            for (lane, &wv) in a[0].iter_mut().zip(wrow) {
                *lane = math::fma(xv, wv, *lane);
            }
        }
    }
}

/// AVX-512F: 8 rows × 2 panels of accumulators in zmm registers, one
/// `vfmadd` per 16 elements. Plain loops over arrays of registers (no
/// closures or `array::map` in the loop: helpers compiled without AVX-512
/// would not be inlined, and every register would go through memory).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps};

    use super::{Block, PANEL, Tile, drive};

    #[target_feature(enable = "avx512f,fma")]
    pub(super) fn block(job: Block<'_>, out: &mut [f32]) {
        drive::<8, 2>(job, out, |xp, w, acc| kernel(xp, w[0], w[1], acc));
    }

    #[target_feature(enable = "avx512f,fma")]
    fn kernel(xp: &[f32], w0: &[f32], w1: &[f32], acc: &mut Tile<8, 2>) {
        let mut a = [[_mm512_setzero_ps(); 2]; 8];
        for r in 0..8 {
            for v in 0..2 {
                a[r][v] = bytemuck::cast(acc[r][v]);
            }
        }
        let rows = xp
            .chunks_exact(8)
            .zip(w0.chunks_exact(PANEL).zip(w1.chunks_exact(PANEL)));
        for (xr, (w0r, w1r)) in rows {
            let b0: __m512 = bytemuck::cast(<[f32; PANEL]>::try_from(w0r).expect("a panel row"));
            let b1: __m512 = bytemuck::cast(<[f32; PANEL]>::try_from(w1r).expect("a panel row"));
            for r in 0..8 {
                let xv = _mm512_set1_ps(xr[r]);
                a[r][0] = _mm512_fmadd_ps(xv, b0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(xv, b1, a[r][1]);
            }
        }
        for r in 0..8 {
            for v in 0..2 {
                acc[r][v] = bytemuck::cast(a[r][v]);
            }
        }
    }
}

/// AVX2 + FMA: 6 rows × 1 panel, a panel being two ymm registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps};

    use super::{Block, PANEL, Tile, drive};

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn block(job: Block<'_>, out: &mut [f32]) {
        drive::<6, 1>(job, out, |xp, w, acc| kernel(xp, w[0], acc));
    }

    #[target_feature(enable = "avx2,fma")]
    fn kernel(xp: &[f32], w: &[f32], acc: &mut Tile<6, 1>) {
        let mut a = [[_mm256_setzero_ps(); 2]; 6];
        for r in 0..6 {
            a[r] = bytemuck::cast(acc[r][0]);
        }
        for (xr, wr) in xp.chunks_exact(6).zip(w.chunks_exact(PANEL)) {
            let b: [__m256; 2] = bytemuck::cast(<[f32; PANEL]>::try_from(wr).expect("a panel row"));
            for r in 0..6 {
                let xv = _mm256_set1_ps(xr[r]);
                a[r][0] = _mm256_fmadd_ps(xv, b[0], a[r][0]);
                a[r][1] = _mm256_fmadd_ps(xv, b[1], a[r][1]);
            }
        }
        for r in 0..6 {
            acc[r][0] = bytemuck::cast(a[r]);
        }
    }
}

/// The reference: one output element at a time, the same order, `w` stored
/// `[k, n]`. Tests hold the tiled, threaded kernels to it bit for bit.
pub fn matmul_reference(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for kk in 0..k {
                acc = math::fma(x[i * k + kk], w[kk * n + j], acc);
            }
            y[i * n + j] = acc + bias.map_or(0.0, |b| b[j]);
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{bits, data};

    /// Shapes with edges in every direction: rows past a tile, columns past
    /// a panel and past a pair of panels, k past a k-block, and products
    /// large enough for threads, split by rows and by columns.
    const SHAPES: [(usize, usize, usize); 11] = [
        (1, 1, 1),
        (3, 5, 7),
        (4, 16, 16),
        (33, 70, 45),
        (130, 64, 200),
        (64, 300, 17),
        (9, 600, 100),
        (2, 257, 1030),
        (50, 3, 0),
        // Past PARALLEL_MIN: split by rows, and by column panels.
        (203, 300, 100),
        (20, 200, 1100),
    ];

    #[test]
    fn tiled_threaded_matmul_equals_the_reference_bit_for_bit() {
        for &(m, k, n) in &SHAPES {
            let (x, w, b) = (data(m * k, 1), data(k * n, 2), data(n, 3));
            let packed = Packed::new(&w, k, n);
            for bias in [None, Some(&b[..])] {
                let reference = matmul_reference(&x, &w, bias, m, k, n);
                for threads in [1, 2, 3, 8] {
                    assert_eq!(
                        bits(&matmul(&x, &packed, bias, m, threads)),
                        bits(&reference),
                        "{m}x{k}x{n}, bias {}, {threads} threads",
                        bias.is_some()
                    );
                }
            }
        }
    }

    #[test]
    fn every_vector_unit_this_cpu_has_gives_the_reference_bits() {
        let mut units = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                units.push(Isa::Avx2);
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                units.push(Isa::Avx512);
            }
        }
        for &(m, k, n) in &SHAPES {
            let (x, w, b) = (data(m * k, 7), data(k * n, 8), data(n, 9));
            let packed = Packed::new(&w, k, n);
            let reference = matmul_reference(&x, &w, Some(&b), m, k, n);
            for &isa in &units {
                let mut y = vec![0f32; m * n];
                isa.block(&x, &packed, Some(&b), 0..packed.panels(), &mut y);
                assert_eq!(bits(&y), bits(&reference), "{isa:?} on {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn packing_from_the_file_layout_equals_packing_the_transpose() {
        let (k, n) = (37, 21);
        let w = data(k * n, 5);
        let mut out_in = vec![0f32; n * k];
        for kk in 0..k {
            for j in 0..n {
                out_in[j * k + kk] = w[kk * n + j];
            }
        }
        assert_eq!(Packed::from_out_in(&out_in, n, k), Packed::new(&w, k, n));
    }
}
