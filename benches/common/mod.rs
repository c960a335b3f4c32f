//! Timing helpers shared by the benches (no benchmark framework: std only).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Runs `f` `runs` times; returns (median, min, the last result).
pub fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let r = f();
        times.push(start.elapsed());
        last = Some(r);
    }
    times.sort();
    (
        times[times.len() / 2],
        times[0],
        last.expect("at least one run"),
    )
}

/// `1.23 s` or `45.6 ms`.
pub fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

/// A positive number from the environment variable `name`, else `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(default)
}

/// `MESHRENDER_BENCH_SIZES` (comma-separated cluster counts), else `default`.
pub fn env_sizes(default: &[usize]) -> Vec<usize> {
    std::env::var("MESHRENDER_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}
