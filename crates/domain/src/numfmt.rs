//! Numbers for people: a metric in a few characters.

/// A size as people read it: `412 B`, `2.0 KiB`, `1.3 MiB`, `2.1 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A number in four significant digits, plain when it reads well, scientific when huge or
/// tiny: 1235, 0.9722, 1.235e7. Trailing zeros are dropped only when the shorter text is the
/// value exactly, so a rounded value never passes for an exact one: R² 0.99996 is `1.000`,
/// never `1`. Whole digits are never rounded away (25792.2 is `25792`).
pub fn compact(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return v.to_string();
    }
    let magnitude = v.abs();
    if !(1e-3..1e6).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let whole_digits = magnitude.log10().floor() as i32 + 1;
    let mut decimals = usize::try_from(4 - whole_digits).unwrap_or(0);
    let mut text = format!("{v:.decimals$}");
    // Rounding up to the next power of ten (0.99996 → 1.0000) gains a digit: give one back.
    if decimals > 0
        && text
            .trim_start_matches('-')
            .parse::<f64>()
            .is_ok_and(|r| r >= 10f64.powi(whole_digits))
    {
        decimals -= 1;
        text = format!("{v:.decimals$}");
    }
    if decimals > 0 && text.parse::<f64>() == Ok(v) {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::{compact, human_bytes};

    #[test]
    fn numbers_keep_four_significant_digits_and_never_pass_for_exact() {
        let cases = [
            (0.99996, "1.000"),
            (1.0, "1"),
            (0.9722, "0.9722"),
            (0.97, "0.97"),
            (0.012345, "0.01235"),
            (1234.5, "1234"),
            (25792.2, "25792"),
            (9449.96, "9450"),
            (12.5, "12.5"),
            (-2.71234, "-2.712"),
            (0.0, "0"),
            (12_345_678.0, "1.235e7"),
            (0.0001234, "1.234e-4"),
        ];
        for (value, text) in cases {
            assert_eq!(compact(value), text, "{value}");
        }
    }

    #[test]
    fn sizes_read_in_their_unit() {
        assert_eq!(human_bytes(412), "412 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(1_363_149), "1.3 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
