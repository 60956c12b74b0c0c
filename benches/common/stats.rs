//! Figures: percentiles (nearest rank), summaries, number formatting.

use std::time::Duration;

use serde_json::{Value, json};

/// Nearest-rank percentile `p` of sorted samples; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Percentile `p` of unsorted samples; NaN when there are none.
pub fn pct(v: &[f64], p: f64) -> f64 {
    percentile(&sorted(v), p)
}

pub fn median(v: &[f64]) -> f64 {
    pct(v, 50.0)
}

pub fn nonempty(v: &[f64]) -> Option<&[f64]> {
    (!v.is_empty()).then_some(v)
}

/// NaN when there are none.
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// NaN when there are none.
pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// Count, p50/p90/p99, min, max and mean of latency samples in ms.
pub fn summary(samples_ms: &[f64]) -> Value {
    let s = sorted(samples_ms);
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    json!({
        "count": s.len(),
        "p50_ms": percentile(&s, 50.0),
        "p90_ms": percentile(&s, 90.0),
        "p99_ms": percentile(&s, 99.0),
        "min_ms": s.first(),
        "max_ms": s.last(),
        "mean_ms": mean,
    })
}

/// Part `i` of `total` split into `n` near-equal parts.
pub fn split(total: usize, n: usize, i: usize) -> usize {
    total / n + usize::from(i < total % n)
}

/// `v` with `decimals` decimals; "—" when it is not a number.
pub fn fmt(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".into()
    }
}

/// [`fmt`], "—" for `None` too.
pub fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".into(), |v| fmt(v, decimals))
}

/// At most 300 bytes of `s` (cut at a character boundary, then "…").
pub fn short(s: &str) -> String {
    if s.len() <= 300 {
        return s.to_string();
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
