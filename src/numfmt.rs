//! Numbers for people: a metric in a few characters.

/// Plain when it reads well, scientific when huge or tiny: 1234.5, 0.9722, 1.235e7.
pub fn compact(v: f64) -> String {
    if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}
