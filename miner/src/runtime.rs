//! Process-wide CPU settings for training, applied once from `main`.

/// candle's barrier-pool worker spins this many times after every parallel
/// elementwise op before it parks.
const SPIN_LIMIT: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// Makes candle's idle workers park soon instead of spinning 25 000 times.
///
/// With as many threads as cores, a worker spinning after an elementwise op
/// holds a core the next matrix product needs (GPT training about 8% faster at
/// 200 spins, interleaved A/B on 2 cores). A value the user set is kept.
/// Call it first thing in `main`: candle reads the variable once, when its
/// pool starts.
#[allow(unsafe_code)]
pub fn configure_cpu() {
    if std::env::var_os(SPIN_LIMIT).is_none() {
        // SAFETY: called at the top of `main`, before this process starts any
        // thread, so nothing reads or writes the environment concurrently.
        unsafe { std::env::set_var(SPIN_LIMIT, "200") };
    }
}
