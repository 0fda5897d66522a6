//! Matrix products over slices, straight into a caller's buffer: the `gemm`
//! crate (candle's own CPU kernels) behind bounds checks.

use gemm::Parallelism;

/// A row-major matrix over a slice, or the transpose of one (a view: no copy).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `data` as `rows × cols`, row-major.
    pub(super) fn new(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        assert_eq!(data.len(), rows * cols, "a {rows}×{cols} matrix");
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose.
    pub(super) fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `out = a·b`, or `out += a·b` when `accumulate`; `out` is row-major.
///
/// Panics when the shapes do not fit: callers build them from one model's
/// dimensions, so a mismatch is a bug, not bad input.
#[allow(unsafe_code)]
pub(super) fn matmul(out: &mut [f32], a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions {k} and {}", b.rows);
    assert_eq!(out.len(), m * n, "a {m}×{n} product");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: `Mat` views only come from `new` (len == rows·cols) and `t`, so
    // every (i, j) with i < rows, j < cols has i·row_stride + j·col_stride
    // < data.len(); gemm reads `a` and `b` only at such offsets and writes
    // `out` only at i·n + j < m·n == out.len(). `out` is a unique borrow, so it
    // overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
        let at = |m: Mat<'_>, i: usize, j: usize| m.data[i * m.row_stride + j * m.col_stride];
        let mut out = vec![0f32; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| at(a, i, p) * at(b, p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn products_of_views_and_transposes_match_a_naive_loop() {
        let x: Vec<f32> = (0..7 * 5).map(|i| (i % 11) as f32 - 4.0).collect();
        let y: Vec<f32> = (0..5 * 9).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
        let z: Vec<f32> = (0..7 * 9).map(|i| (i % 5) as f32 - 2.0).collect();
        let (x, y, z) = (Mat::new(&x, 7, 5), Mat::new(&y, 5, 9), Mat::new(&z, 7, 9));
        for (a, b) in [(x, y), (z.t(), x), (x.t(), z), (y.t(), x.t())] {
            let mut out = vec![1f32; a.rows * b.cols];
            matmul(&mut out, a, b, false);
            assert_eq!(out, naive(a, b));
            matmul(&mut out, a, b, true);
            let twice: Vec<f32> = naive(a, b).iter().map(|v| 2.0 * v).collect();
            assert_eq!(out, twice);
        }
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_shapes_panic() {
        let x = vec![0f32; 6];
        let mut out = vec![0f32; 4];
        matmul(&mut out, Mat::new(&x, 2, 3), Mat::new(&x, 2, 3), false);
    }
}
